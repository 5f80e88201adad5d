"""Generate the second benchmark task: Spanish support e-mails -> a triage JSON whose fields are inferred.

Unlike the sample dataset (values mostly copied from the report), three of the five fields here never
appear word for word in the e-mail; the model must infer them:

    {"customer": "Lucía Gómez", "category": "facturación", "priority": "alta",
     "refund_requested": true, "order_id": "PED-48213"}

- category: facturación | técnico | envío | cuenta, from what the e-mail describes (a double charge, an
  app that crashes, a parcel that never came, a password that does not work...), never named outright;
- priority: alta when the customer cannot work or pay, or has a deadline today; baja for questions and
  suggestions; media otherwise;
- refund_requested: true when the customer asks for money back, in any of many phrasings;
- customer (the signature) and order_id (or null) are copied.

Alpaca records, one JSON object per line; standard library only; the same arguments give the same bytes:

    python scripts/make_ticket_dataset.py --out bench/data/tickets-soporte.jsonl --rows 200 --seed 11
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "bench" / "data" / "tickets-soporte.jsonl"
INSTRUCTION = "Clasifica este correo de soporte y devuelve el JSON de triaje:"

FIRST = [
    "Lucía",
    "Marcos",
    "Ana",
    "Javier",
    "Carmen",
    "Diego",
    "Elena",
    "Pablo",
    "Sofía",
    "Andrés",
    "Marta",
    "Raúl",
    "Irene",
    "Hugo",
    "Nuria",
    "Óscar",
    "Paula",
    "Sergio",
    "Laura",
    "Iván",
    "Rocío",
    "Tomás",
]
LAST = [
    "Gómez",
    "Ruiz",
    "Martín",
    "Sánchez",
    "Navarro",
    "Ortega",
    "Castro",
    "Vidal",
    "Romero",
    "Herrera",
    "Molina",
    "Delgado",
    "Prieto",
    "Iglesias",
    "Santos",
    "Lozano",
    "Cabrera",
    "Peña",
]
GREETINGS = ["Hola,", "Buenos días,", "Buenas tardes:", "Hola equipo,", "Estimados señores:", "Hola de nuevo,"]
CLOSINGS = ["Un saludo,", "Gracias,", "Quedo a la espera,", "Saludos cordiales,", "Muchas gracias de antemano,"]

PROBLEMS = {
    "facturación": [
        "me habéis cobrado dos veces la misma cuota este mes",
        "en la factura aparece un importe que no coincide con la tarifa que contraté",
        "me ha llegado un cargo en la tarjeta que no reconozco",
        "la factura de {month} tiene mal mi NIF y la necesito corregida",
        "seguís cobrándome la suscripción aunque la di de baja",
        "el descuento prometido no se ha aplicado en el recibo",
    ],
    "técnico": [
        "la aplicación se cierra sola cada vez que intento abrir un informe",
        "desde la última actualización el programa no sincroniza los datos",
        "la web me da un error 500 al guardar los cambios",
        "la impresora que compramos no la reconoce el ordenador",
        "el panel se queda en blanco después de iniciar sesión",
        "la exportación a Excel sale con las columnas desordenadas",
    ],
    "envío": [
        "el paquete lleva diez días en reparto y no ha llegado",
        "me ha llegado la caja abierta y falta una pieza",
        "el transportista dice que entregó el pedido pero yo no he recibido nada",
        "recibí un modelo distinto del que pedí",
        "el seguimiento del envío no se actualiza desde el {day}",
    ],
    "cuenta": [
        "no puedo entrar en mi cuenta aunque restablecí la contraseña",
        "quiero cambiar el correo electrónico asociado a mi usuario",
        "me aparece que mi usuario está bloqueado",
        "no me llega el código de verificación para acceder",
        "necesito dar de alta a dos compañeros más en la cuenta de empresa",
    ],
}
URGENT = [
    "Es urgente: sin esto no podemos trabajar.",
    "Tenemos la oficina parada desde esta mañana.",
    "Lo necesito resuelto hoy mismo, mañana es el cierre de mes.",
    "No podemos atender a nuestros clientes hasta que se arregle.",
    "Es la tercera vez que escribo y nadie responde; esto es crítico para nosotros.",
]
CALM = [
    "No corre prisa, cuando podáis.",
    "Solo es una consulta, por si se puede mejorar.",
    "Cuando tengáis un momento me decís algo.",
    "No es nada grave, pero quería comentarlo.",
]
NEUTRAL = [
    "¿Me podéis ayudar?",
    "Os agradecería que lo revisarais.",
    "Espero vuestra respuesta.",
    "¿Qué puedo hacer?",
    "",
]
REFUND = [
    "Quiero que me devolváis el dinero.",
    "Solicito el reembolso del importe.",
    "¿Me podéis abonar lo que pagué?",
    "Pido la devolución completa.",
    "Prefiero que me reintegréis el importe en la tarjeta.",
]
NO_REFUND = [
    "No quiero la devolución, solo que funcione.",
    "Con que lo solucionéis me basta.",
    "",
    "",
    "",
]
MONTHS = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "septiembre", "octubre", "noviembre"]
DAYS = ["lunes", "martes", "miércoles", "jueves", "viernes"]


def make_row(rng: random.Random) -> dict:
    category = rng.choice(list(PROBLEMS))
    problem = rng.choice(PROBLEMS[category]).format(month=rng.choice(MONTHS), day=rng.choice(DAYS))
    priority = rng.choices(["alta", "media", "baja"], weights=[3, 4, 3])[0]
    mood = {"alta": URGENT, "baja": CALM, "media": NEUTRAL}[priority]
    # Only money problems and lost or wrong parcels come with a refund request; never with a calm note.
    refund = category in ("facturación", "envío") and priority != "baja" and rng.random() < 0.55
    customer = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    order_id = (
        f"PED-{rng.randint(10000, 99999)}" if category in ("envío", "facturación") or rng.random() < 0.3 else None
    )
    sentences = [f"{problem[0].upper()}{problem[1:]}."]
    if order_id:
        sentences.append(
            rng.choice(
                [
                    f"El número de pedido es {order_id}.",
                    f"Referencia: {order_id}.",
                    f"Os paso el pedido {order_id} por si os sirve.",
                ]
            )
        )
    extra = rng.choice(REFUND if refund else NO_REFUND)
    tail = [s for s in (rng.choice(mood), extra) if s]
    rng.shuffle(tail)
    body = " ".join(sentences + tail)
    email = f"{rng.choice(GREETINGS)} {body} {rng.choice(CLOSINGS)} {customer}"
    output = {
        "customer": customer,
        "category": category,
        "priority": priority,
        "refund_requested": refund,
        "order_id": order_id,
    }
    return {"instruction": INSTRUCTION, "input": email, "output": json.dumps(output, ensure_ascii=False)}


def write_atomic(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def generate(argv: list[str] | None, description: str, make_row, out: Path, seed: int) -> int:
    """The command line of a task generator: `count` rows of `make_row(rng)` from a seeded generator, written
    atomically to `--out`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--seed", type=int, default=seed)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    write_atomic(args.out, [make_row(rng) for _ in range(args.rows)])
    print(f"Wrote {args.rows} rows to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return generate(argv, __doc__.split("\n\n")[0], make_row, DEFAULT_OUT, seed=11)


if __name__ == "__main__":
    raise SystemExit(main())
