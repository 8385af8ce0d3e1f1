"""The demo's customers as generated people: countries, names, contacts, interests and the orders each
kind of customer places (``crm.customers.demo`` makes them happen through the services).

The data come from the generator the caller hands over (one per customer, drawn from
``random.Random(SEED)``): the same people, amounts and order days every time, the days counted back
from the story's present.
"""
from __future__ import annotations

import copy
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal

import phonenumbers

from crm.customers.rules import StageRuleSettings, TierRuleSettings
from crm.enums import Channel

SEED = 2026

@dataclass(frozen=True)
class Country:
    region: str
    timezones: tuple[str, ...]
    locales: tuple[str, ...]
    currency: str
    cities: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    weight: int = 1


COUNTRIES: tuple[Country, ...] = (
    Country("DE", ("Europe/Berlin",), ("de-DE",), "EUR", ("Berlin", "Hamburg", "Munich", "Cologne"),
            ("Lukas", "Anna", "Felix", "Lea", "Jonas", "Marie", "Maximilian", "Sophie", "Paul", "Hannah", "Jürgen",
             "Katrin"),
            ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann", "Schäfer",
             "Koch", "Richter"), 5),
    Country("AT", ("Europe/Vienna",), ("de-AT",), "EUR", ("Vienna", "Graz", "Salzburg"),
            ("Florian", "Johanna", "Tobias", "Theresa", "Stefan", "Magdalena"),
            ("Gruber", "Huber", "Bauer", "Wagner", "Pichler", "Steiner", "Moser"), 2),
    Country("CH", ("Europe/Zurich",), ("de-CH", "fr-CH", "it-CH"), "CHF", ("Zurich", "Geneva", "Basel", "Lugano"),
            ("Noah", "Mia", "Luca", "Laura", "Elias", "Léa", "Matteo", "Nina"),
            ("Meier", "Keller", "Favre", "Brunner", "Baumann", "Rochat", "Bernasconi"), 2),
    Country("FR", ("Europe/Paris",), ("fr-FR",), "EUR", ("Paris", "Lyon", "Marseille", "Bordeaux"),
            ("Camille", "Louis", "Chloé", "Hugo", "Inès", "Gabriel", "Manon", "Théo", "Élodie", "Julien"),
            ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Lefèvre", "Moreau", "Girard", "Fournier"), 4),
    Country("ES", ("Europe/Madrid", "Atlantic/Canary"), ("es-ES", "ca-ES"), "EUR",
            ("Madrid", "Barcelona", "Valencia", "Seville"),
            ("Lucía", "Hugo", "Martina", "Mateo", "Sofía", "Pablo", "Carmen", "Álvaro", "Nuria"),
            ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Jiménez"), 3),
    Country("IT", ("Europe/Rome",), ("it-IT",), "EUR", ("Rome", "Milan", "Turin", "Florence"),
            ("Giulia", "Leonardo", "Alessandro", "Francesca", "Lorenzo", "Chiara", "Davide", "Aurora"),
            ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "De Luca"), 3),
    Country("NL", ("Europe/Amsterdam",), ("nl-NL",), "EUR", ("Amsterdam", "Rotterdam", "Utrecht"),
            ("Daan", "Emma", "Sem", "Julia", "Lotte", "Bram", "Sanne", "Thijs"),
            ("de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer"), 2),
    Country("GB", ("Europe/London",), ("en-GB",), "GBP", ("London", "Manchester", "Edinburgh", "Bristol"),
            ("Oliver", "Amelia", "George", "Isla", "Harry", "Olivia", "Jack", "Emily", "Charlotte", "James"),
            ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Thomas", "Roberts", "Walker"), 5),
    Country("IE", ("Europe/Dublin",), ("en-IE", "ga-IE"), "EUR", ("Dublin", "Cork", "Galway"),
            ("Seán", "Aoife", "Conor", "Niamh", "Cian", "Saoirse", "Liam", "Ciara"),
            ("Murphy", "Kelly", "O'Sullivan", "Walsh", "O'Brien", "Byrne", "Ryan", "O'Connor"), 1),
    Country("SE", ("Europe/Stockholm",), ("sv-SE",), "SEK", ("Stockholm", "Gothenburg", "Malmö"),
            ("Elsa", "William", "Alice", "Oscar", "Maja", "Lucas", "Astrid", "Erik"),
            ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Lindqvist", "Åberg"), 2),
    Country("DK", ("Europe/Copenhagen",), ("da-DK",), "EUR", ("Copenhagen", "Aarhus", "Odense"),
            ("Freja", "Magnus", "Ida", "Mads", "Sofie", "Søren"),
            ("Nielsen", "Jensen", "Hansen", "Pedersen", "Andersen", "Sørensen", "Rasmussen"), 1),
    Country("PL", ("Europe/Warsaw",), ("pl-PL",), "EUR", ("Warsaw", "Kraków", "Wrocław", "Gdańsk"),
            ("Zofia", "Jakub", "Zuzanna", "Antoni", "Maja", "Łukasz", "Agnieszka", "Piotr"),
            ("Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kamińska", "Lewandowski", "Zielińska"), 2),
    Country("PT", ("Europe/Lisbon", "Atlantic/Azores"), ("pt-PT",), "EUR", ("Lisbon", "Porto", "Braga"),
            ("João", "Maria", "Tiago", "Beatriz", "Rodrigo", "Inês", "Francisco"),
            ("Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Rodrigues"), 1),
    Country("US", ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
                   "America/Phoenix"), ("en-US", "es-US"), "USD",
            ("New York", "Chicago", "Austin", "Seattle", "Denver", "San Diego"),
            ("Emma", "Liam", "Ava", "Ethan", "Madison", "Noah", "Harper", "Mason", "Abigail", "Logan", "Chloe",
             "Daniel"),
            ("Johnson", "Miller", "Davis", "Garcia", "Anderson", "Martinez", "Thompson", "White", "Harris", "Clark",
             "Lewis", "Young"), 5),
    Country("CA", ("America/Toronto", "America/Vancouver", "America/Halifax"), ("en-CA", "fr-CA"), "USD",
            ("Toronto", "Montréal", "Vancouver", "Calgary"),
            ("Olivia", "Benjamin", "Charlotte", "Félix", "Émile", "Zoé", "Nathan", "Ava"),
            ("Tremblay", "Roy", "Gagnon", "Côté", "MacDonald", "Campbell", "Wong", "Leblanc"), 2),
    Country("BR", ("America/Sao_Paulo",), ("pt-BR",), "USD", ("São Paulo", "Rio de Janeiro", "Belo Horizonte"),
            ("Miguel", "Helena", "Arthur", "Alice", "Heitor", "Laura", "Gustavo", "Valentina"),
            ("Souza", "Lima", "Carvalho", "Almeida", "Ribeiro", "Gomes", "Araújo"), 2),
    Country("MX", ("America/Mexico_City", "America/Monterrey"), ("es-MX",), "USD",
            ("Mexico City", "Guadalajara", "Monterrey"),
            ("Santiago", "Ximena", "Diego", "Regina", "Emiliano", "Camila", "Valeria"),
            ("Hernández", "Ramírez", "Flores", "Torres", "Vázquez", "Morales", "Cruz"), 1),
    Country("JP", ("Asia/Tokyo",), ("ja-JP",), "JPY", ("Tokyo", "Osaka", "Kyoto", "Yokohama"),
            ("Haruto", "Yui", "Sota", "Hina", "Ren", "Aoi", "Yuto", "Sakura", "Kenji"),
            ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi"), 3),
    Country("AU", ("Australia/Sydney", "Australia/Melbourne", "Australia/Perth", "Australia/Brisbane"),
            ("en-AU",), "USD", ("Sydney", "Melbourne", "Perth", "Brisbane"),
            ("Charlotte", "Oliver", "Mia", "Jack", "Matilda", "William", "Ruby", "Lachlan"),
            ("Smith", "Nguyen", "Kelly", "Mitchell", "Campbell", "Robinson", "Wright"), 2),
    Country("IN", ("Asia/Kolkata",), ("en-IN", "hi-IN"), "USD", ("Bengaluru", "Mumbai", "Delhi", "Pune"),
            ("Aarav", "Ananya", "Vihaan", "Diya", "Arjun", "Isha", "Rohan", "Priya", "Kabir"),
            ("Sharma", "Patel", "Iyer", "Reddy", "Gupta", "Menon", "Singh", "Kapoor"), 2),
)

EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example", "inbox.example", "post.example")
INTERESTS = ("running", "hiking", "cycling", "camping", "climbing", "yoga", "skiing", "travel", "photography",
             "smart-home", "audio", "coffee", "cooking", "fitness-tracking", "sustainability")
SOURCES = ("web", "web", "app", "store", "referral", "event", "newsletter", "social")

# (sku, name, interest) of the demo shop: outdoor gear and electronics.
CATALOG = (
    ("TRL-RUN-01", "Trail running shoes", "running"), ("RUN-VEST-02", "Hydration vest", "running"),
    ("HK-JKT-03", "Waterproof shell jacket", "hiking"), ("HK-BOOT-04", "Leather hiking boots", "hiking"),
    ("CY-HELM-05", "Road cycling helmet", "cycling"), ("CY-LITE-06", "USB bike light set", "cycling"),
    ("CMP-TENT-07", "Two-person tent", "camping"), ("CMP-BAG-08", "Down sleeping bag", "camping"),
    ("CLB-HARN-09", "Climbing harness", "climbing"), ("YG-MAT-10", "Cork yoga mat", "yoga"),
    ("SKI-GOG-11", "Ski goggles", "skiing"), ("TRV-PACK-12", "Carry-on travel pack", "travel"),
    ("PH-TRIP-13", "Carbon travel tripod", "photography"), ("SH-HUB-14", "Smart home hub", "smart-home"),
    ("AUD-HP-15", "Noise-cancelling headphones", "audio"), ("AUD-SPK-16", "Portable speaker", "audio"),
    ("COF-GRD-17", "Burr coffee grinder", "coffee"), ("COF-ESP-18", "Espresso machine", "coffee"),
    ("CK-PAN-19", "Cast-iron skillet", "cooking"), ("FT-WATCH-20", "GPS sports watch", "fitness-tracking"),
    ("ECO-BTL-21", "Insulated steel bottle", "sustainability"), ("GEN-GIFT-22", "Gift card", None),
)

# What each customer slot becomes; the plan repeats, so even a small seed has every kind.
PLAN = ("loyal", "new", "lead", "developing", "vip", "at_risk", "advocate", "churned", "preferred", "prospect",
        "new", "developing", "win_back", "loyal", "lost_lead", "preferred", "new", "at_risk", "walk_in",
        "developing", "lead", "churned", "vip_new", "new", "loyal")

ORDER_CHANNELS = (Channel.WEB, Channel.APP, Channel.STORE, Channel.PHONE)
PSYCHOLOGICAL_CENTS = (Decimal("0.00"), Decimal("0.50"), Decimal("0.90"), Decimal("0.95"), Decimal("0.99"))
ZERO_DECIMAL_CURRENCIES = ("JPY", "KRW", "ISK", "CLP", "VND")


@dataclass
class Person:
    """One generated customer and what happens to them."""

    kind: str
    index: int
    country: Country
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    external_id: str | None
    timezone: str
    locale: str
    birthday: date | None
    attributes: dict
    channel_weights: tuple[int, int, int, int]
    currency: str
    order_days: list[float] = field(default_factory=list)  # days ago, oldest first
    order_values: list[Decimal] = field(default_factory=list)  # in the base currency


class People:
    """Generates ``Person`` s; ``rng`` is set to the customer's own generator before each one."""

    def __init__(self, config):
        self.rng = random.Random(SEED)
        self.base = config["BASE_CURRENCY"]
        self.rates = {code: Decimal(str(rate)) for code, rate in (config["CURRENCY_RATES"] or {}).items()}
        self.stages = StageRuleSettings.from_config(config)
        self.tiers = TierRuleSettings.from_config(config)
        self.used_emails: set[str] = set()
        self.last_with_phone: Person | None = None

    def pick_country(self) -> Country:
        return self.rng.choices(COUNTRIES, weights=[c.weight for c in COUNTRIES])[0]

    def phone_for(self, region: str) -> str | None:
        """A number that passes the same validation as the API: an example number with new last digits."""
        kinds = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
        kind = kinds[0] if self.rng.random() < 0.8 else kinds[1]
        example = phonenumbers.example_number_for_type(region, kind) or phonenumbers.example_number(region)
        if example is None:
            return None
        nanp = example.country_code == 1
        for _ in range(20):
            number = copy.copy(example)
            if nanp:
                # 555-0100..0199 are reserved for fiction in North America.
                area = example.national_number // 10_000_000
                number.national_number = area * 10_000_000 + 5_550_100 + self.rng.randrange(100)
            else:
                number.national_number = example.national_number - example.national_number % 10_000 \
                    + self.rng.randrange(10_000)
            text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            if phonenumbers.is_valid_number(phonenumbers.parse(text, None)):
                return text
        return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)

    def email_for(self, first: str, last: str) -> str:
        f, l = _ascii(first), _ascii(last)
        local = self.rng.choice((f"{f}.{l}", f"{f}{l}", f"{f[:1]}.{l}", f"{f}_{l}", f"{f}.{l}{self.rng.randint(1, 99)}",
                                 f"{l}.{f}"))
        domain = self.rng.choice(EMAIL_DOMAINS)
        email = f"{local}@{domain}"
        while email in self.used_emails:
            email = f"{local}{self.rng.randint(2, 999)}@{domain}"
        self.used_emails.add(email)
        return email

    def attributes_for(self, kind: str, country: Country) -> dict:
        if self.rng.random() < 0.2:
            return {}
        source = "store" if kind == "walk_in" else self.rng.choice(SOURCES)
        attributes: dict = {"source": source,
                            "interests": sorted(self.rng.sample(INTERESTS, self.rng.randint(1, 3)))}
        if source == "store" or self.rng.random() < 0.25:
            attributes["preferredStore"] = self.rng.choice(country.cities)
        if source == "referral":
            attributes["referralCode"] = f"REF-{self.rng.randrange(16**6):06X}"
        if self.rng.random() < 0.3:
            attributes["newsletterFrequency"] = self.rng.choice(("weekly", "monthly"))
        if self.rng.random() < 0.1:
            attributes["company"] = self.rng.choice(("Nordwind GmbH", "Bluebird Labs", "Atlas Outdoor Club",
                                                     "Kite & Co.", "Sunrise Hotels"))
        return attributes

    def currency_for(self, country: Country) -> str:
        usable = [self.base, *sorted(self.rates)]
        if self.rng.random() < 0.1:  # cross-border shoppers pay in another currency now and then
            return self.rng.choice(usable)
        return country.currency if country.currency in usable else self.base

    def person(self, index: int, kind: str) -> Person:
        rng = self.rng
        twin = self.last_with_phone if kind == "walk_in" else None
        if kind == "walk_in" and twin is None:
            kind = "new"
        country = twin.country if twin else self.pick_country()
        first = twin.first_name if twin else rng.choice(country.first_names)
        last = twin.last_name if twin else rng.choice(country.last_names)
        phone = twin.phone if twin else (self.phone_for(country.region) if rng.random() < 0.7 else None)
        email = None if twin or rng.random() < 0.05 else self.email_for(first, last)
        external_id = None
        if twin:
            external_id = f"POS-{880000 + index * 13}"
        elif email is None or (kind not in ("lead", "prospect", "lost_lead") and rng.random() < 0.5):
            external_id = f"SHOP-{104729 + index * 37}"
        birthday = None
        if rng.random() < 0.6:
            birthday = date(1948, 1, 1) + timedelta(days=rng.randrange(365 * 58))
        web, app, store, phone_w = rng.choice(((6, 2, 1, 1), (2, 6, 1, 0), (1, 1, 6, 1), (3, 3, 3, 1),
                                               (2, 1, 2, 4)))
        if twin:
            web, app, store, phone_w = 0, 0, 1, 0
        person = Person(kind=kind, index=index, country=country, first_name=first, last_name=last, email=email,
                        phone=phone, external_id=external_id, timezone=twin.timezone if twin else
                        rng.choice(country.timezones), locale=twin.locale if twin else rng.choice(country.locales),
                        birthday=None if twin else birthday, attributes=self.attributes_for(kind, country),
                        channel_weights=(web, app, store, phone_w), currency=self.currency_for(country))
        self.plan_orders(person)
        if phone and not twin:
            self.last_with_phone = person
        return person

    # --- orders --------------------------------------------------------------------------------------------------

    def plan_orders(self, p: Person) -> None:
        """Order dates and values that earn the stage and tier the customer's kind stands for."""
        rng, s = self.rng, self.stages
        dev_n, loyal_n = max(1, s.developing_orders), max(2, s.loyal_orders)
        window = max(30, min(s.developing_window_days, 330))
        tenure = max(30, s.loyal_tenure_days)

        def spread(n: int, oldest: float, newest: float) -> list[float]:
            days = sorted((rng.uniform(newest, oldest) for _ in range(n - 2)), reverse=True) if n > 2 else []
            return [oldest, *days, newest][:n] if n > 1 else [rng.uniform(newest, oldest)]

        def loyal_days(extra: int) -> list[float]:
            n = rng.randint(loyal_n, loyal_n + extra)
            return spread(n, tenure + rng.uniform(40, 330), rng.uniform(2, 60))

        kind, spend = p.kind, None  # spend: target lifetime spend in the base currency
        if kind in ("lead", "prospect", "lost_lead"):
            days: list[float] = []
        elif kind in ("new", "walk_in"):
            n = rng.randint(1, max(1, min(2, dev_n - 1))) if kind == "new" else 1
            days = spread(n, rng.uniform(20, 150), rng.uniform(0.5, 18))
        elif kind == "developing":
            n = rng.randint(dev_n, max(dev_n, min(dev_n + 2, loyal_n - 1)))
            days = spread(n, rng.uniform(0.6, 0.95) * window, rng.uniform(1, 45))
        elif kind in ("loyal", "advocate"):
            days = loyal_days(8)
        elif kind == "vip":
            days = loyal_days(6)
            spend = self.tiers.vip_spend * _factor(rng, 1.15, 2.4)
        elif kind == "vip_new":
            n = rng.randint(dev_n, max(dev_n, min(dev_n + 1, loyal_n - 1)))
            days = spread(n, rng.uniform(90, 200), rng.uniform(3, 30))
            spend = self.tiers.vip_spend * _factor(rng, 1.1, 1.6)
        elif kind == "preferred":
            days = loyal_days(4) if rng.random() < 0.5 else spread(
                rng.randint(dev_n, max(dev_n, loyal_n - 1)), rng.uniform(0.6, 0.95) * window, rng.uniform(1, 45))
            low, high = self.tiers.preferred_spend * Decimal("1.05"), self.tiers.vip_spend * Decimal("0.95")
            spend = low + max(Decimal(0), high - low) * _factor(rng, 0.05, 0.5)
        elif kind == "at_risk":
            days = spread(rng.randint(1, max(1, loyal_n - 1)), rng.uniform(330, 520), rng.uniform(190, 300))
        elif kind == "churned":
            days = spread(rng.randint(1, 4), rng.uniform(560, 720), rng.uniform(400, 540))
        elif kind == "win_back":  # the last order comes after the customer was marked churned
            days = spread(rng.randint(2, 3), rng.uniform(560, 700), rng.uniform(420, 540)) + [rng.uniform(3, 40)]
        else:
            raise ValueError(kind)
        p.order_days = days
        if spend is None:  # ordinary baskets around a personal level
            level = rng.choice((25, 45, 70, 110))
            p.order_values = [Decimal(level) * _factor(rng, 0.5, 1.6) for _ in days]
        else:  # the target spend shared out over the orders
            weights = [rng.uniform(0.5, 1.5) for _ in days]
            p.order_values = [spend * Decimal(str(round(w / sum(weights), 4))) for w in weights]

    def amount_in(self, value_base: Decimal, currency: str) -> Decimal:
        """A shop-like price in ``currency`` worth about ``value_base`` (x.90, x.99, ...; whole tens of yen)."""
        rate = Decimal(1) if currency == self.base else self.rates[currency]
        raw = value_base / rate
        if _minor_unit(currency) == 1:
            return max(Decimal(10), (raw / 10).to_integral_value() * 10)
        return max(Decimal(1), raw.to_integral_value(rounding=ROUND_FLOOR)) + self.rng.choice(PSYCHOLOGICAL_CENTS)

    def items_for(self, p: Person, amount: Decimal, currency: str) -> list[dict]:
        """One line for a small basket, up to three for a larger one; the lines add up to the amount exactly."""
        interests = set(p.attributes.get("interests", ()))
        preferred = [c for c in CATALOG if c[2] in interests] or list(CATALOG)
        unit = _minor_unit(currency)
        minor = int(amount / unit)
        small = amount * (Decimal(1) if currency == self.base else self.rates[currency]) < 60
        lines = 1 if small or minor < 3 else self.rng.randint(1, 3)
        picks = self.rng.sample(preferred if len(preferred) >= lines and self.rng.random() < 0.7 else CATALOG, lines)
        weights = [self.rng.uniform(1, 3) for _ in range(lines)]
        shares = [int(minor * w / sum(weights)) for w in weights[:-1]]
        shares.append(minor - sum(shares))
        items = []
        for (sku, name, _), share in zip(picks, shares):
            qty = 2 if share % 2 == 0 and self.rng.random() < 0.25 else 1
            items.append({"sku": sku, "name": name, "qty": qty, "unitPrice": str(Decimal(share // qty) * unit)})
        return items


def _factor(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(str(round(rng.uniform(low, high), 2)))


def _minor_unit(currency: str) -> Decimal:
    return Decimal(1) if currency in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")


def _ascii(text: str) -> str:
    """A name as an email local part: 'Łukasz' -> 'lukasz', "O'Brien" -> 'obrien', 'de Jong' -> 'dejong'."""
    text = text.lower()
    for src, dst in (("ß", "ss"), ("æ", "ae"), ("ø", "o"), ("å", "a"), ("ł", "l"), ("đ", "d"), ("œ", "oe")):
        text = text.replace(src, dst)
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if ch.isascii() and (ch.isalnum() or ch == "-"))

