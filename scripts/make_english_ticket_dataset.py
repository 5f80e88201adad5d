"""Generate the third benchmark task: English support tickets -> a triage JSON with six fields.

Other fields and wording than the Spanish task (`make_ticket_dataset.py`); four of the six are not
written in the ticket as they stand in the JSON and must be inferred or normalised:

    {"customer": "Megan Hughes", "product": "router", "issue_type": "defect", "priority": "high",
     "order_id": "ORD-48213", "refund": true}

- product: laptop | router | headphones | smartwatch | printer, often named by a model name or a synonym
  ("my Aero 14 notebook", "the wifi box", "the earbuds");
- issue_type: defect | delivery | billing | warranty | how_to, from what the ticket describes;
- priority: high when the customer cannot work or has a deadline, low for questions, normal otherwise;
- refund: true when the customer asks for money back, in any of many phrasings, false when they say
  they want none ("I do not need a refund");
- customer (in the opening or the sign-off) is copied; order_id (or null) is written as ORD-NNNNN
  whichever way the ticket gives it ("order #48213", "Ref: 48213").

Alpaca records, one JSON object per line; standard library only; the same arguments give the same bytes:

    python scripts/make_english_ticket_dataset.py --out bench/data/tickets-en.jsonl --rows 200 --seed 23
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from make_ticket_dataset import generate

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "bench" / "data" / "tickets-en.jsonl"
INSTRUCTION = "Triage this customer ticket. Reply with the triage JSON only."

FIRST = ["Megan", "Tom", "Priya", "Daniel", "Grace", "Omar", "Chloe", "Liam", "Hannah", "Noah", "Aisha", "Ben"]
FIRST += ["Olivia", "Ethan", "Zoe", "Ryan", "Isla", "Kofi", "Emma", "Lucas"]
LAST = ["Hughes", "Patel", "Okafor", "Murphy", "Chen", "Walker", "Novak", "Evans", "Khan", "Reid", "Foster"]
LAST += ["Silva", "Turner", "Brooks", "Kowalski", "Bennett"]
PRODUCTS = {
    "laptop": ["my Aero 14 notebook", "the laptop I bought", "my new notebook", "the Aero 14"],
    "router": ["the wifi box", "my Linkstar router", "the router", "the mesh base station"],
    "headphones": ["my QuietPods", "the noise-cancelling headset", "the earbuds", "my headphones"],
    "smartwatch": ["my Pulse watch", "the fitness watch", "the smartwatch", "my Pulse 2"],
    "printer": ["the InkJet 300", "my office printer", "the printer", "the InkJet"],
}
ISSUES = {
    "defect": [
        "{p} stopped turning on after two days",
        "{p} keeps restarting by itself",
        "the screen of {p} flickers all the time",
        "{p} makes a loud buzzing noise",
    ],
    "delivery": [
        "{p} was supposed to arrive last week and it is still not here",
        "the courier left {p} at the wrong address",
        "the box with {p} arrived crushed",
        "tracking for {p} has not moved in nine days",
    ],
    "billing": [
        "I was charged twice for {p}",
        "the invoice for {p} shows the wrong amount",
        "my card was billed for {p} even though I cancelled the order",
        "the discount code did not apply to {p}",
    ],
    "warranty": [
        "{p} broke after fourteen months and I want to know if the warranty covers it",
        "I would like to extend the warranty of {p}",
        "the repair shop says {p} is out of warranty but I bought it this year",
    ],
    "how_to": [
        "how do I reset {p} to factory settings",
        "I cannot find how to pair {p} with my phone",
        "is there a way to update the firmware of {p}",
        "how can I change the language on {p}",
    ],
}
URGENT = [
    "I need it working today for a client meeting.",
    "This is urgent, my whole team is blocked.",
    "I have a deadline tomorrow morning.",
    "I cannot work at all until this is fixed.",
    "My shop is losing sales every hour this goes on.",
    "Please sort this out asap.",
]
CALM = [
    "No rush at all.",
    "Whenever you have a moment.",
    "It is not urgent.",
    "Take your time.",
    "Just mentioning it for when you get a chance.",
]
NEUTRAL = ["Could you look into it?", "Please let me know what to do next.", "Thanks for checking.", ""]
REFUND = [
    "I want my money back.",
    "Please refund the full amount.",
    "I would like a refund to my card.",
    "Can you reimburse me?",
    "Please credit the money back to my account.",
]
NO_REFUND = [
    "",
    "A replacement would be fine.",
    "I do not need a refund, just a working one.",
    "No need to give me my money back, I just want it sorted.",
    "",
]
DISTRACTIONS = [
    "",
    "",
    "I have been a customer for years.",
    "I already tried restarting it.",
    "Sorry for the long mail.",
]
GREETINGS = ["Hi,", "Hello,", "Hello support team,", "Good morning,", "Dear support,", "Hey there,"]
CLOSINGS = ["Thanks,", "Best regards,", "Cheers,", "Kind regards,", "Many thanks,"]


def order_mention(rng: random.Random, number: int) -> str:
    """The order as customers write it; the JSON always has it as ORD-NNNNN."""
    return rng.choice(
        [
            f"Order ORD-{number}.",
            f"My order number is {number}.",
            f"(order #{number})",
            f"It was order ORD-{number}.",
            f"Ref: {number}.",
        ]
    )


def make_row(rng: random.Random) -> dict:
    product = rng.choice(list(PRODUCTS))
    issue_type = rng.choice(list(ISSUES))
    problem = rng.choice(ISSUES[issue_type]).format(p=rng.choice(PRODUCTS[product]))
    priority = "low" if issue_type == "how_to" else rng.choices(["high", "normal", "low"], weights=[3, 4, 2])[0]
    mood = {"high": URGENT, "low": CALM, "normal": NEUTRAL}[priority]
    refund = issue_type in ("defect", "delivery", "billing") and priority != "low" and rng.random() < 0.5
    customer = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    number = rng.randint(10000, 99999)
    has_order = issue_type != "how_to" and rng.random() < 0.7
    sentences = [f"{problem[0].upper()}{problem[1:]}{'?' if issue_type == 'how_to' else '.'}"]
    if has_order:
        sentences.append(order_mention(rng, number))
    tail = [s for s in (rng.choice(mood), rng.choice(REFUND if refund else NO_REFUND), rng.choice(DISTRACTIONS)) if s]
    rng.shuffle(tail)
    if rng.random() < 0.3:
        opening, signature = f"{rng.choice(GREETINGS)} this is {customer}.", ""
    else:
        opening, signature = rng.choice(GREETINGS), f" {rng.choice(CLOSINGS)} {customer}"
    ticket = f"{opening} {' '.join(sentences + tail)}{signature}"
    output = {
        "customer": customer,
        "product": product,
        "issue_type": issue_type,
        "priority": priority,
        "order_id": f"ORD-{number}" if has_order else None,
        "refund": refund,
    }
    return {"instruction": INSTRUCTION, "input": ticket, "output": json.dumps(output)}


def main(argv: list[str] | None = None) -> int:
    return generate(argv, __doc__.split("\n\n")[0], make_row, DEFAULT_OUT, seed=23)


if __name__ == "__main__":
    raise SystemExit(main())
