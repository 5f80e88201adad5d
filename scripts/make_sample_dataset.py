"""Generate the sample dataset: Spanish project status reports -> the JSON a tracking system stores.

The task comes from the seed conversation: project managers write a short free-text daily report and
the model must extract exactly this structure (keys in this order):

    {"project_name", "status", "client", "budget_used_eur", "key_milestone_completed",
     "blockers_today": [{"ticket_id", "delay_hours"}], "next_step"}

Every value is copied verbatim from the report or is a simple normalisation (the status word, the
budget and the hours as integers), so a small model can learn it. Reports vary in template, order,
wording and distractor details that must not reach the JSON.

Regenerate (byte-identical for the same arguments):
    python scripts/make_sample_dataset.py --out datasets/informes-proyectos.jsonl --rows 200 --seed 7
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from pathlib import Path

INSTRUCTION = "Extrae los datos del siguiente informe:"
PARAPHRASES = [
    "Convierte este informe de proyecto en JSON:",
    "Extrae en formato JSON los datos de este informe:",
    "Lee el informe y devuelve el JSON con sus datos:",
]

PROJECTS = [
    "Alpha", "Beta", "Gamma", "Delta", "Épsilon", "Zeta", "Theta", "Kappa", "Lambda", "Sigma", "Omega",
    "Atlas", "Hermes", "Apolo", "Minerva", "Vulcano", "Juno", "Orion", "Pegaso", "Fénix", "Aurora",
    "Nébula", "Cóndor", "Quetzal", "Jaguar", "Tizona", "Colada", "Faro", "Brújula", "Mistral",
    "Sirocco", "Tramontana", "Andrómeda", "Casiopea", "Vega", "Altair", "Rigel", "Polaris", "Draco",
    "Pulsar", "Quásar", "Cobalto", "Titanio", "Argón", "Neón", "Helio", "Granito", "Ónix", "Ámbar Azul",
    "Coral", "Mercurio", "Saturno", "Nexo", "Vértice", "Prisma", "Kepler", "Galileo", "Turing", "Lovelace",
]
CLIENTS = [
    "ACME Corp", "Stark Industries", "Grupo Iberia Digital", "Telecom Andina", "Banco del Sur",
    "Hospital San Rafael", "Logística Rápida SL", "Cervecería El Faro", "Aseguradora Horizonte",
    "Ayuntamiento de Getafe", "Universidad de Salamanca", "Mercados Frescos SA", "Energía Verde Levante",
    "Wayne Enterprises", "Globex", "Initech", "Umbrella Health", "Soylent Foods", "Hooli",
    "Transportes Cantábrico", "Farmacias Vidal", "Editorial Planeta Azul", "Clínica Dental Sonrisa",
    "Viajes Marisol", "Hotel Costa Brava", "Bodegas Rioja Alta", "Textiles Galicia", "Inmobiliaria Sol",
    "Ferretería Hermanos López", "Autoescuela Vía Libre", "Grupo Pampa", "Café de Colombia Export",
    "Minera del Norte", "Seguros La Estrella", "Constructora Maya", "AeroCaribe", "Agua Clara SA",
    "Fundación Luz", "Museo del Prado Digital", "Club Deportivo Ribera",
]
MILESTONES = [
    "despliegue del módulo de pagos", "migración de la base de datos", "integración con el ERP",
    "rediseño de la página de inicio", "módulo de login", "panel de administración",
    "primera versión de la app móvil", "auditoría de seguridad", "pruebas de carga",
    "automatización de las copias de seguridad", "alta de los usuarios piloto", "formación del equipo cliente",
    "configuración del entorno de preproducción", "catálogo de productos", "carrito de la compra",
    "pasarela de facturación electrónica", "informe de requisitos", "prototipo de la interfaz",
    "motor de búsqueda interno", "sistema de notificaciones", "conector con el CRM",
    "exportación de informes a PDF", "cuadro de mando de ventas", "campaña de correo de lanzamiento",
    "traducción de la web al inglés", "módulo de reservas", "API de inventario", "refactorización del backend",
    "optimización de las consultas SQL", "cifrado de los datos personales", "inicio de sesión único",
    "integración con la pasarela de Bizum", "instalación de los sensores en planta",
    "puesta en marcha del chatbot de soporte", "documentación técnica", "plan de pruebas de aceptación",
    "migración a la nube", "monitorización con alertas", "módulo de nóminas", "gestor de incidencias",
    "validación de accesibilidad", "firma digital de contratos", "versión beta del portal de clientes",
    "carga inicial de datos", "análisis de rendimiento",
]
NEXT_STEPS = [
    "Integración con el sistema de facturación", "SSO", "Pruebas de usuario", "Despliegue en producción",
    "Revisión con el cliente", "Formación de los administradores", "Migración de los datos históricos",
    "Auditoría externa", "Optimización del rendimiento", "Lanzamiento de la campaña",
    "Conexión con la API de envíos", "Diseño del módulo de informes", "Pruebas de regresión",
    "Firma del acta de aceptación", "Ajustes de accesibilidad", "Segunda iteración del prototipo",
    "Cierre de la fase de análisis", "Configurar el balanceador de carga", "Traducción al portugués",
    "Revisión del presupuesto", "Implantación en la segunda sede", "Pruebas de penetración",
    "Puesta en marcha del piloto", "Documentar la API", "Integrar los pagos con tarjeta",
    "Sincronización con el almacén", "Entrega del manual de usuario", "Demo para la dirección",
    "Activar la monitorización 24/7", "Definir el plan de soporte", "Migrar el correo corporativo",
    "Desplegar la app en las tiendas", "Conectar el CRM con la web", "Cargar el catálogo completo",
    "Revisar los permisos de usuarios", "Validación legal de los textos", "Configurar copias diarias",
    "Pruebas en dispositivos Android", "Optimizar las imágenes de la web", "Reunión de cierre de sprint",
]
STATUS_PHRASES = {
    "Verde": ["Estado: Verde.", "Semáforo en verde.", "El proyecto está en verde.", "Estado del proyecto: Verde.",
              "Seguimos en verde."],
    "Ámbar": ["Estado: Ámbar.", "Semáforo en ámbar.", "El proyecto está en ámbar.", "Estado del proyecto: Ámbar.",
              "Pasamos a ámbar."],
    "Rojo": ["Estado: Rojo.", "Semáforo en rojo.", "El proyecto está en rojo.", "Estado del proyecto: Rojo.",
             "Estamos en rojo."],
}
DISTRACTORS = [
    "Hoy tuvimos tres reuniones de seguimiento.", "Marta está de vacaciones hasta el lunes.",
    "El equipo celebró el cumpleaños de Luis.", "La oficina estuvo sin calefacción por la mañana.",
    "Se incorporó una nueva desarrolladora al equipo.", "La daily se alargó veinte minutos.",
    "Mañana hay huelga de transporte.", "Se actualizó la wiki interna.",
]
NO_BLOCKERS = ["No hubo problemas.", "Sin incidencias.", "Día tranquilo, sin bloqueos.",
               "No hubo ningún bloqueo."]
OPENINGS = [
    "Informe del proyecto '{p}'.", "Update de '{p}'.", "Resumen diario del proyecto {p}.",
    "Estado semanal de '{p}'.", "Buenos días. Os paso el informe de {p}.", "Proyecto: {p}.",
    "Hola equipo, novedades de '{p}'.", "Parte de hoy del proyecto '{p}'.",
]
MILESTONE_PHRASES = [
    "Hoy hemos finalizado el {m}.", "Hemos terminado el {m}.", "Completado el {m}.",
    "Ya está listo el {m}.", "Cerramos hoy el {m}.",
]
CLIENT_PHRASES = [
    "El cliente, {c}, está satisfecho.", "Cliente: {c}.", "El cliente es {c}.", "Para {c}.",
    "{c} ha dado el visto bueno.",
]
NEXT_PHRASES = ["Próximo hito: {n}.", "Siguiente paso: {n}.", "Lo siguiente será: {n}.", "Pendiente: {n}."]


def _budget(rng: random.Random) -> tuple[int, str]:
    used = rng.randrange(5, 400) * 100
    total = used + rng.randrange(1, 200) * 100
    dotted = f"{used:,}".replace(",", ".")
    written = rng.choice([f"{used}€", f"{dotted} €", f"{dotted} euros", f"{used} EUR"])
    total_text = f"{total:,}".replace(",", ".")
    phrase = rng.choice([
        f"Presupuesto actual: {written} de {total_text} €.", f"El presupuesto usado es de {written}.",
        f"Llevamos gastados {written}.", f"Consumo de presupuesto: {written}.",
    ])
    return used, phrase


def _blockers(rng: random.Random) -> tuple[list[dict], str]:
    count = rng.choices([0, 1, 2, 3], weights=[4, 4, 2, 1])[0]
    if not count:
        return [], rng.choice(NO_BLOCKERS)
    blockers, sentences = [], []
    for _ in range(count):
        kind = rng.randrange(3)
        if kind == 0:
            ticket = str(rng.randrange(1000, 9999))
            mention = f"un bug (ID: {ticket})"
        elif kind == 1:
            ticket = str(rng.randrange(1000, 9999))
            mention = f"el ticket #{ticket}"
        else:
            ticket = f"{rng.choice(['JIRA', 'OPS', 'SUP', 'DEV'])}-{rng.randrange(10, 999)}"
            mention = f"la incidencia {ticket}"
        hours = rng.randrange(1, 9)
        unit = "hora" if hours == 1 else "horas"
        sentences.append(rng.choice([
            f"Hubo {mention} que retrasó el trabajo {hours} {unit}.",
            f"Perdimos {hours} {unit} por {mention}.",
            f"{mention[0].upper()}{mention[1:]} nos bloqueó {hours} {unit}.",
        ]))
        blockers.append({"ticket_id": ticket, "delay_hours": hours})
    return blockers, " ".join(sentences)


def make_row(rng: random.Random) -> dict:
    project, client = rng.choice(PROJECTS), rng.choice(CLIENTS)
    milestone, next_step = rng.choice(MILESTONES), rng.choice(NEXT_STEPS)
    status = rng.choice(list(STATUS_PHRASES))
    used, budget_sentence = _budget(rng)
    blockers, blocker_sentence = _blockers(rng)
    body = [
        rng.choice(MILESTONE_PHRASES).format(m=milestone),
        blocker_sentence,
        rng.choice(CLIENT_PHRASES).format(c=client),
        rng.choice(NEXT_PHRASES).format(n=next_step),
        budget_sentence,
        rng.choice(STATUS_PHRASES[status]),
    ]
    middle = body[1:5]
    rng.shuffle(middle)
    sentences = [rng.choice(OPENINGS).format(p=project), body[0], *middle, body[5]]
    if rng.random() < 0.35:
        sentences.insert(rng.randrange(1, len(sentences)), rng.choice(DISTRACTORS))
    record = {
        "project_name": project, "status": status, "client": client, "budget_used_eur": used,
        "key_milestone_completed": milestone[0].upper() + milestone[1:], "blockers_today": blockers,
        "next_step": next_step,
    }
    instruction = rng.choice(PARAPHRASES) if rng.random() < 0.1 else INSTRUCTION
    return {"instruction": instruction, "input": " ".join(sentences), "output": json.dumps(record, ensure_ascii=False)}


def generate(rows: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    seen, out = set(), []
    while len(out) < rows:
        row = make_row(rng)
        if row["input"] not in seen:
            seen.add(row["input"])
            out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "datasets"
                        / "informes-proyectos.jsonl")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in generate(args.rows, args.seed))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=args.out.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, args.out)
    print(f"Wrote {args.rows} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
