"""Generate the sample dataset: Spanish project status reports -> the JSON a tracking system stores.

The task comes from the seed conversation: project managers write a short free-text daily report and
the model must extract exactly this structure (keys in this order):

    {"project_name": "Alpha", "status": "Verde", "client": "ACME Corp", "budget_used_eur": 4500,
     "key_milestone_completed": "Despliegue del módulo de pagos",
     "blockers_today": [{"ticket_id": "9812", "delay_hours": 2}],
     "next_step": "Integración con el sistema de facturación"}

Every value is either copied verbatim from the report (project name, client, ticket ids, next step, the
milestone's noun phrase with its first letter capitalised) or a simple normalisation: the status word
("semáforo en ámbar" -> "Ámbar"), the budget ("4.500 euros" -> 4500) and the delay hours ("2 horas" -> 2)
as integers. That keeps the extraction learnable by a small (135M) model. Reports vary in template,
sentence order, wording and distractor details (meetings, holidays...) that must not reach the JSON.

Rows are Alpaca records, one JSON object per line: {"instruction", "input", "output"}, where output is
the compact JSON string. Standard library only, no network: the same arguments always give the same
bytes. Regenerate with:

    python scripts/make_sample_dataset.py --out datasets/informes-proyectos.jsonl --rows 200 --seed 7
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "datasets" / "informes-proyectos.jsonl"
MIN_WORDS, MAX_WORDS = 40, 110

INSTRUCTION = "Extrae los datos del siguiente informe:"
PARAPHRASES = [
    "Convierte este informe de proyecto en JSON:",
    "Extrae en formato JSON los datos de este informe:",
    "Lee el informe y devuelve el JSON con sus datos:",
    "Pasa a JSON la información de este informe de proyecto:",
]

PROJECTS = [
    # Greek letters
    "Alpha",
    "Beta",
    "Gamma",
    "Delta",
    "Épsilon",
    "Zeta",
    "Theta",
    "Iota",
    "Kappa",
    "Lambda",
    "Sigma",
    "Ómicron",
    "Omega",
    "Tau",
    # mythology
    "Atlas",
    "Hermes",
    "Apolo",
    "Minerva",
    "Vulcano",
    "Juno",
    "Orión",
    "Pegaso",
    "Fénix",
    "Aurora",
    "Prometeo",
    "Artemisa",
    "Poseidón",
    "Odín",
    "Freya",
    "Quetzalcóatl",
    "Osiris",
    "Ícaro",
    "Perseo",
    "Gaia",
    "Selene",
    # codenames
    "Cóndor",
    "Jaguar",
    "Tizona",
    "Faro",
    "Brújula",
    "Mistral",
    "Tramontana",
    "Andrómeda",
    "Altair",
    "Rigel",
    "Polaris",
    "Pulsar",
    "Cobalto",
    "Titanio",
    "Granito",
    "Ónix",
    "Nexo",
    "Vértice",
    "Prisma",
    "Kepler",
    "Galileo",
    "Turing",
    "Lovelace",
    "Lince",
    "Centella",
    "Halcón",
    # product names
    "FacturaYa",
    "RutaSegura",
    "MediCita",
    "EcoPanel",
    "PagoFácil",
    "ReservaMás",
    "Portal Proveedores",
    "App Fidelidad",
    "SmartGrid",
    "DataLake Norte",
    "CRM Comercial",
    "TiendaOnline Express",
]
CLIENTS = [
    "ACME Corp",
    "Stark Industries",
    "Grupo Iberia Digital",
    "Telecom Andina",
    "Banco del Sur",
    "Hospital San Rafael",
    "Logística Rápida SL",
    "Cervecería La Espiga",
    "Aseguradora Horizonte",
    "Ayuntamiento de Getafe",
    "Universidad de Salamanca",
    "Mercados Frescos SA",
    "Energía Solar Levante",
    "Wayne Enterprises",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Hooli",
    "Transportes Cantábrico",
    "Farmacias Vidal",
    "Editorial Planeta Azul",
    "Clínica Dental Sonrisa",
    "Viajes Marisol",
    "Hotel Costa Brava",
    "Bodegas Rioja Alta",
    "Textiles Galicia",
    "Inmobiliaria Sol y Mar",
    "Ferretería Hermanos López",
    "Autoescuela Vía Libre",
    "Grupo Pampa",
    "Café de Colombia Export",
    "Minera del Norte",
    "Seguros La Estrella",
    "Constructora Maya",
    "AeroCaribe",
    "Agua Clara SA",
    "Fundación Luz",
    "Club Deportivo Ribera",
    "Distribuidora Azteca",
    "Supermercados El Trébol",
    "Cooperativa Agrícola del Valle",
    "Laboratorios Andes",
    "Petrolera Orinoco",
    "Banco Pacífico Digital",
    "Grupo Lácteo Austral",
    "Muebles Nórdicos SL",
    "Tecnologías Quimera",
    "Nakatomi Trading",
    "Tyrell Corporation",
    "Cyberdyne Systems",
    "Oceanic Airlines",
    "Northwind Traders",
    "Contoso",
    "Fabrikam",
    "Vandelay Industries",
    "Dunder Mifflin",
    "Transportes Patagonia",
    "Caja Rural Mediterránea",
    "Hospital Santa Lucía",
    "Instituto Tecnológico del Bajío",
]
# Milestones carry their article: the report says "el despliegue del módulo de pagos" and the JSON holds the
# noun phrase with its first letter capitalised, "Despliegue del módulo de pagos".
MILESTONES = [
    # software
    "el despliegue del módulo de pagos",
    "la migración de la base de datos",
    "la integración con el ERP",
    "el rediseño de la página de inicio",
    "el módulo de login",
    "el panel de administración",
    "la primera versión de la app móvil",
    "la auditoría de seguridad",
    "las pruebas de carga",
    "la automatización de las copias de seguridad",
    "la configuración del entorno de preproducción",
    "el catálogo de productos",
    "el carrito de la compra",
    "la pasarela de facturación electrónica",
    "el documento de requisitos",
    "el prototipo de la interfaz",
    "el motor de búsqueda interno",
    "el sistema de notificaciones",
    "el conector con el CRM",
    "la exportación de informes a PDF",
    "el cuadro de mando de ventas",
    "el módulo de reservas",
    "la API de inventario",
    "la refactorización del backend",
    "la optimización de las consultas SQL",
    "el cifrado de los datos personales",
    "el inicio de sesión único",
    "la integración con Bizum",
    "el chatbot de soporte",
    "la documentación técnica",
    "el plan de pruebas de aceptación",
    "la migración a la nube",
    "la monitorización con alertas",
    "el módulo de nóminas",
    "la validación de accesibilidad",
    "la firma digital de contratos",
    "la versión beta del portal de clientes",
    "la carga inicial de datos",
    "el análisis de rendimiento",
    "los tests de integración",
    # engineering
    "los planos de la nave industrial",
    "el cableado del centro de datos",
    "la calibración de los sensores",
    "el montaje del prototipo físico",
    "la instalación de los paneles solares",
    "el estudio de viabilidad",
    "la puesta en marcha de la línea de envasado",
    "la instalación de los sensores en planta",
    # IT operations
    "la renovación de los portátiles",
    "la configuración de la VPN",
    "la actualización del servidor de correo",
    "el inventario de licencias",
    "el pipeline de integración continua",
    "el clúster de Kubernetes",
    "la formación del equipo del cliente",
    # marketing
    "el lanzamiento de la campaña en redes sociales",
    "la landing page de la promoción",
    "el estudio de mercado",
    "el vídeo corporativo",
    "la auditoría SEO de la web",
    "el manual de marca",
    "el calendario editorial",
    "la newsletter mensual",
    "los anuncios de Google Ads",
    "la encuesta de satisfacción",
    "la campaña de correo de lanzamiento",
    "la traducción de la web al inglés",
]
NEXT_STEPS = [
    "Integración con el sistema de facturación",
    "SSO",
    "Pruebas de usuario",
    "Despliegue en producción",
    "Revisión con el cliente",
    "Formación de los administradores",
    "Migración de los datos históricos",
    "Auditoría externa",
    "Optimización del rendimiento",
    "Lanzamiento de la campaña",
    "Conexión con la API de envíos",
    "Diseño del módulo de informes",
    "Pruebas de regresión",
    "Firma del acta de aceptación",
    "Ajustes de accesibilidad",
    "Segunda iteración del prototipo",
    "Cierre de la fase de análisis",
    "Configurar el balanceador de carga",
    "Traducción al portugués",
    "Implantación en la segunda sede",
    "Pruebas de penetración",
    "Puesta en marcha del piloto",
    "Documentar la API",
    "Integrar los pagos con tarjeta",
    "Sincronización con el almacén",
    "Entrega del manual de usuario",
    "Demo para la dirección",
    "Activar la monitorización 24/7",
    "Definir el plan de soporte",
    "Migrar el correo corporativo",
    "Publicar la app en las tiendas",
    "Conectar el CRM con la web",
    "Cargar el catálogo completo",
    "Revisar los permisos de usuarios",
    "Validación legal de los textos",
    "Configurar copias diarias",
    "Pruebas en dispositivos Android",
    "Optimizar las imágenes de la web",
    "Planificación del siguiente sprint",
    "Instalación de los equipos en obra",
    "Pedido de materiales al proveedor",
    "Certificación eléctrica de la instalación",
    "Pruebas de campo con los sensores",
    "Rodaje del anuncio",
    "Envío de la newsletter",
    "Campaña de retargeting",
    "Informe de resultados para el cliente",
    "Migración a Kubernetes",
    "Renovación de los certificados SSL",
    "Actualizar el firewall",
    "Revisión de código del módulo de pagos",
    "Pruebas de estrés de la API",
    "Maquetación del catálogo impreso",
    "Sesión de formación para ventas",
    "Análisis de la competencia",
    "Plan de contenidos del trimestre",
]
STATUSES = ["Verde", "Ámbar", "Rojo"]
STATUS_FORMS = [
    "Estado: {S}.",
    "Estado del proyecto: {S}.",
    "Semáforo en {s}.",
    "El proyecto está en {s}.",
    "Seguimos en {s}.",
    "Marcamos el proyecto en {s}.",
    "Semáforo: {U}.",
    "Situación general: {s}.",
]
STATUS_EXTRA = {"Verde": "Todo en verde.", "Ámbar": "Pasamos a ámbar.", "Rojo": "Pasamos a rojo, hay que escalarlo."}
STATUS_KV = ["Estado: {S}.", "Semáforo: {s}."]

CLIENT_FORMS = [
    "El cliente, {c}, está satisfecho.",
    "Cliente: {c}.",
    "El cliente es {c}.",
    "{c} ha dado el visto bueno.",
    "Hablamos con {c} y están contentos con el avance.",
    "Trabajamos para {c}.",
    "Hoy revisamos el avance con {c}.",
]
NEXT_FORMS = [
    "Próximo hito: {n}.",
    "Siguiente paso: {n}.",
    "Lo siguiente será: {n}.",
    "Próximo paso: {n}.",
    "Para mañana: {n}.",
    "El siguiente paso es: {n}.",
    "Ahora toca: {n}.",
]
NEXT_KV = ["Siguiente paso: {n}.", "Próximo hito: {n}."]
MILESTONE_FORMS = [
    "Hoy hemos finalizado {am}.",
    "Hemos terminado {am}.",
    "Hoy cerramos {am}.",
    "{Am} ya {esta} {listo}.",
    "Hito completado: {M}.",
    "Hemos completado con éxito {am}.",
    "Hoy se {ha} entregado {am}.",
    "Por fin {esta} {listo} {am}.",
]
MILESTONE_KV = ["Hito completado: {M}.", "Completado hoy: {M}."]
BUDGET_FORMS = [
    "Presupuesto actual: {w} de {t}.",
    "El presupuesto usado es de {w}.",
    "Llevamos gastados {w}.",
    "Consumo de presupuesto: {w}.",
    "Hemos consumido {w} de los {t} presupuestados.",
    "Gasto acumulado: {w}.",
    "Presupuesto consumido hasta hoy: {w}.",
]
BUDGET_KV = ["Presupuesto usado: {w}.", "Gastado: {w} de {t}."]
NO_BLOCKERS = [
    "No hubo problemas.",
    "Sin incidencias.",
    "Hoy no hubo bloqueos.",
    "Ningún bloqueo que reportar.",
    "Día tranquilo, sin incidencias.",
    "No hubo ningún bloqueo.",
]
NO_BLOCKERS_KV = ["Bloqueos: ninguno.", "Incidencias: ninguna."]
TASKS = ["el testing", "las pruebas", "el despliegue", "la integración", "la revisión de código", "la entrega"]
JIRA_PREFIXES = ["JIRA", "OPS", "SUP", "DEV", "QA", "INC", "PAY", "WEB"]
DISTRACTORS = [
    "Hoy tuvimos 3 reuniones de seguimiento.",
    "Marta está de vacaciones hasta el lunes.",
    "Javier estuvo de baja por la mañana.",
    "La daily se alargó 20 minutos.",
    "Se incorporó una nueva desarrolladora al equipo.",
    "Mañana hay huelga de transporte, trabajaremos en remoto.",
    "Actualizamos la wiki interna con las decisiones de diseño.",
    "La oficina estuvo sin aire acondicionado toda la tarde.",
    "El viernes celebramos la comida de equipo.",
    "Recordad rellenar el parte de horas antes del jueves.",
    "Somos 7 personas en el equipo esta semana.",
    "Lucía vuelve de vacaciones el día 15.",
    "La retrospectiva se ha movido al miércoles.",
    "Hemos pedido 2 portátiles nuevos para los becarios.",
    "El wifi de la sala grande sigue fallando.",
    "Pablo dio una charla interna sobre buenas prácticas.",
    "Se revisaron 12 pull requests.",
    "La reunión con dirección se aplaza a la semana que viene.",
    "Hoy hubo 2 reuniones con el equipo de diseño.",
    "Andrés estará de vacaciones la próxima semana.",
    "Cambiamos de sala de reuniones por obras.",
    "El equipo de QA trabajó desde casa.",
    "Carmen se ha ido 4 días de vacaciones.",
    "La comida de Navidad será el día 19.",
]
SIGNERS = ["Laura", "Carlos", "Ana", "Miguel", "Sofía", "Diego", "Elena", "Raúl", "Paula", "Jorge"]

# Report templates: an opening (which may carry the client), the body slots in order ("*" marks the run of
# slots that is shuffled), an optional closing, and the phrasing style ("prose" or "kv" for key: value).
TEMPLATES = [
    ("Informe del proyecto {pq}.", "M B C N U S", None, "prose"),
    ("Update de {pq}.", "M C B N S U", None, "prose"),
    ("Resumen diario del proyecto {pq}.", "S M B U N C", None, "prose"),
    ("Estado semanal de {pq}.", "C M U B N S", None, "prose"),
    ("Buenos días a todos. Os paso el informe de hoy de {pq}.", "M B N C U S", "Un saludo.", "prose"),
    ("Proyecto: {p}. Cliente: {c}.", "S M B N U", None, "kv"),
    ("Hola equipo, novedades de {pq} para {c}.", "M B * N U S", None, "prose"),
    ("Parte diario. Proyecto {pq} ({c}).", "U S M B N", None, "prose"),
    ("[{p}] Resumen del día.", "* M B C N U S", None, "prose"),
    ("Reporte de avance de {pq}.", "M * B C N U S", "Seguimos informando.", "prose"),
    ("Buenas tardes. Cierre del día en {pq}.", "M B C U N S", "Saludos, {signer}.", "prose"),
    ("Ficha diaria de {pq}.", "C S M B U N", None, "kv"),
]


def _quoted(rng: random.Random, project: str) -> str:
    return rng.choice(["'{}'", "«{}»", "{}"]).format(project)


def _thousands(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _budget(rng: random.Random, style: str) -> tuple[int, str]:
    used = rng.randrange(6, 1200) * 50
    total = used + rng.randrange(2, 400) * 50
    fmt = rng.choice(["{}€", "{} €", "{dot} €", "{dot} euros", "{} euros", "{dot}€", "{} EUR"])

    def written(value: int) -> str:
        return fmt.replace("{dot}", _thousands(value)).replace("{}", str(value))

    form = rng.choice(BUDGET_KV if style == "kv" else BUDGET_FORMS)
    return used, form.format(w=written(used), t=written(total))


def _ticket(rng: random.Random) -> tuple[str, str, str]:
    """A ticket id, how prose mentions it (with its article) and how a key: value list names it."""
    kind = rng.randrange(5)
    if kind in (0, 1):
        ticket = str(rng.randrange(100, 99999))
        noun = "un bug" if kind == 0 else "un error"
        return ticket, f"{noun} (ID: {ticket})", f"ID: {ticket}"
    if kind == 2:
        ticket = str(rng.randrange(100, 99999))
        return ticket, f"el ticket #{ticket}", f"ticket #{ticket}"
    ticket = f"{rng.choice(JIRA_PREFIXES)}-{rng.randrange(10, 2000)}"
    if kind == 3:
        return ticket, f"la incidencia {ticket}", f"incidencia {ticket}"
    return ticket, f"el ticket {ticket}", f"ticket {ticket}"


def _hours(hours: int) -> str:
    return f"{hours} hora" if hours == 1 else f"{hours} horas"


def _blockers(rng: random.Random, style: str) -> tuple[list[dict], str]:
    count = rng.choices([0, 1, 2, 3], weights=[4, 4, 2, 1])[0]
    if not count:
        return [], rng.choice(NO_BLOCKERS_KV if style == "kv" else NO_BLOCKERS)
    blockers, mentions, listed = [], [], []
    while len(blockers) < count:
        ticket, mention, short = _ticket(rng)
        if any(b["ticket_id"] == ticket for b in blockers):
            continue
        hours = rng.randrange(1, 9)
        blockers.append({"ticket_id": ticket, "delay_hours": hours})
        mentions.append((mention, hours))
        listed.append(f"{short} ({_hours(hours)})")
    if style == "kv" or rng.random() < 0.2:
        return blockers, rng.choice(["Bloqueos: ", "Bloqueos de hoy: ", "Incidencias: "]) + ", ".join(listed) + "."
    sentences = []
    for mention, hours in mentions:
        forms = [
            "{Mn} nos retrasó {h}.",
            "Perdimos {h} por {mn}.",
            "Hubo un retraso de {h} por {mn}.",
            "{Mn} bloqueó {task} durante {h}.",
        ]
        if mention.startswith("un "):
            forms += [
                "Hubo {mn} que retrasó {task} {h}, pero ya está solucionado.",
                "Hubo {mn} que retrasó {task} {h}.",
            ]
        form = rng.choice(forms)
        sentences.append(
            form.format(mn=mention, Mn=mention[0].upper() + mention[1:], h=_hours(hours), task=rng.choice(TASKS))
        )
    return blockers, " ".join(sentences)


def _milestone(rng: random.Random, milestone: str, style: str) -> tuple[str, str]:
    article, phrase = milestone.split(" ", 1)
    value = phrase[0].upper() + phrase[1:]
    plural, feminine = article in ("los", "las"), article in ("la", "las")
    listo = "list" + ("a" if feminine else "o") + ("s" if plural else "")
    form = rng.choice(MILESTONE_KV if style == "kv" else MILESTONE_FORMS)
    sentence = form.format(
        am=milestone,
        Am=milestone[0].upper() + milestone[1:],
        M=value,
        listo=listo,
        esta="están" if plural else "está",
        ha="han" if plural else "ha",
    )
    return value, sentence


def _status(rng: random.Random, status: str, style: str) -> str:
    forms = STATUS_KV if style == "kv" else [*STATUS_FORMS, STATUS_EXTRA[status]]
    form = rng.choice(forms)
    return form.format(S=status, s=status.lower(), U=status.upper())


def make_row(rng: random.Random) -> dict | None:
    """One Alpaca row, or None when the drawn report falls outside the word limits."""
    project, client = rng.choice(PROJECTS), rng.choice(CLIENTS)
    milestone, next_step, status = rng.choice(MILESTONES), rng.choice(NEXT_STEPS), rng.choice(STATUSES)
    opening, order, closing, style = rng.choice(TEMPLATES)

    value, milestone_sentence = _milestone(rng, milestone, style)
    used, budget_sentence = _budget(rng, style)
    blockers, blocker_sentence = _blockers(rng, style)
    client_forms = ["Cliente: {c}."] if style == "kv" else CLIENT_FORMS
    slots = {
        "M": milestone_sentence,
        "B": blocker_sentence,
        "U": budget_sentence,
        "C": rng.choice(client_forms).format(c=client),
        "N": rng.choice(NEXT_KV if style == "kv" else NEXT_FORMS).format(n=next_step),
        "S": _status(rng, status, style),
    }
    keys = order.split()
    if "*" in keys:  # the slots after "*" up to the last one are told in random order
        star = keys.index("*")
        head, tail = keys[:star], keys[star + 1 : -1]
        rng.shuffle(tail)
        keys = [*head, *tail, keys[-1]]
    body = [slots[key] for key in keys]

    head = opening.format(p=project, pq=_quoted(rng, project), c=client)
    tail = [closing.format(signer=rng.choice(SIGNERS))] if closing else []
    extra = rng.choices([0, 1, 2], weights=[55, 35, 10])[0]  # distractors, more when the report is short
    pool = list(DISTRACTORS)
    rng.shuffle(pool)
    while pool and (extra > 0 or len(" ".join([head, *body, *tail]).split()) < MIN_WORDS):
        body.insert(rng.randrange(1, len(body) + 1), pool.pop())
        extra -= 1
    report = " ".join([head, *body, *tail])
    if not MIN_WORDS <= len(report.split()) <= MAX_WORDS:
        return None
    record = {
        "project_name": project,
        "status": status,
        "client": client,
        "budget_used_eur": used,
        "key_milestone_completed": value,
        "blockers_today": blockers,
        "next_step": next_step,
    }
    instruction = rng.choice(PARAPHRASES) if rng.random() < 0.1 else INSTRUCTION
    return {"instruction": instruction, "input": report, "output": json.dumps(record, ensure_ascii=False)}


def generate(rows: int, seed: int) -> list[dict]:
    """`rows` distinct rows drawn from `random.Random(seed)`: the same arguments give the same rows."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[dict] = []
    while len(out) < rows:
        row = make_row(rng)
        if row is not None and row["input"] not in seen:
            seen.add(row["input"])
            out.append(row)
    return out


def write_jsonl(rows: list[dict], out: Path) -> None:
    """Write atomically: a temp file in the target folder, then os.replace."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the dataset is an ordinary shared file
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSONL file to write (default: %(default)s)")
    parser.add_argument("--rows", type=int, default=200, help="number of rows (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    rows = generate(args.rows, args.seed)
    write_jsonl(rows, args.out)
    print(f"Wrote {len(rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
