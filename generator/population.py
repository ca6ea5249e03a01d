"""The population the contacts of generated workspaces are drawn from: cultures (their names,
how names are ordered, the languages they write in), US area codes for their numbers, tags
and notes.

Pure data, like what they write (``generator.content``): ``generator.plan`` draws each
contact's culture, name, language and number from these with numpy, so adding a line here
changes the mix without touching code.
"""

from __future__ import annotations

# ---- people -------------------------------------------------------------------------

# culture: (weight, default language, languages it writes in with weights, given names, family names, order)
# order "gf" = "Given Family"; "fg" = family first without space (Chinese); "f g" = family first, spaced.
CULTURES: dict[str, tuple[float, list[tuple[str, float]], list[str], list[str], str]] = {
    "en": (
        0.36,
        [("en", 1.0)],
        [
            "Emily",
            "Michael",
            "Sarah",
            "David",
            "Jessica",
            "Chris",
            "Ashley",
            "Daniel",
            "Megan",
            "Ryan",
            "Lauren",
            "Tyler",
            "Hannah",
            "Brandon",
            "Olivia",
            "Zoë",
            "Siobhán",
            "Noël",
            "Chloé",
            "Renée",
        ],
        [
            "Smith",
            "Johnson",
            "Williams",
            "Brown",
            "Miller",
            "Davis",
            "Wilson",
            "Taylor",
            "Anderson",
            "Thomas",
            "Moore",
            "Jackson",
            "O'Brien",
            "Murphy",
            "Sullivan",
            "Nguyen",
            "Kim",
            "Patel",
        ],
        "gf",
    ),
    "es": (
        0.16,
        [("es", 0.75), ("en", 0.25)],
        [
            "José",
            "María",
            "Lucía",
            "Andrés",
            "Sofía",
            "Martín",
            "Camila",
            "Jesús",
            "Ramón",
            "Inés",
            "Valentina",
            "Álvaro",
            "Ximena",
            "Héctor",
        ],
        [
            "García",
            "Martínez",
            "Rodríguez",
            "López",
            "Hernández",
            "González",
            "Pérez",
            "Sánchez",
            "Ramírez",
            "Muñoz",
            "Jiménez",
            "Peña",
            "Ibáñez",
        ],
        "gf",
    ),
    "pt": (
        0.05,
        [("pt", 0.8), ("en", 0.2)],
        ["João", "Conceição", "Gonçalo", "Lívia", "Thiago", "Mônica", "Inês", "Antônio"],
        ["Gonçalves", "Magalhães", "Araújo", "Simões", "Fernandes", "Brandão", "Conceição"],
        "gf",
    ),
    "fr": (
        0.05,
        [("fr", 0.8), ("en", 0.2)],
        ["François", "Hélène", "Amélie", "Jérôme", "Benoît", "Élodie", "Cécile", "Théo"],
        ["Lefèvre", "Dubois", "Moreau", "Bérénger", "Fontaine", "Girard", "Rousseau"],
        "gf",
    ),
    "de": (
        0.04,
        [("de", 0.6), ("en", 0.4)],
        ["Jürgen", "Björn", "Käthe", "Lena", "Jörg", "Anneliese", "Günter", "Zoë"],
        ["Müller", "Schröder", "Weiß", "Köhler", "Groß", "Bäcker", "Schäfer"],
        "gf",
    ),
    "ar": (
        0.07,
        [("ar", 0.7), ("en", 0.3)],
        ["محمد", "فاطمة", "أحمد", "ليلى", "يوسف", "مريم", "عمر", "نور", "خالد", "سارة"],
        ["العلي", "حداد", "منصور", "الخطيب", "يوسف", "الحسيني", "سعيد"],
        "gf",
    ),
    "hi": (
        0.07,
        [("hi", 0.5), ("en", 0.5)],
        ["प्रिया", "राहुल", "अनीता", "विक्रम", "सुनीता", "अर्जुन", "दीपिका", "रोहन"],
        ["शर्मा", "वर्मा", "गुप्ता", "सिंह", "पटेल", "जोशी", "मेहता"],
        "gf",
    ),
    "zh": (
        0.08,
        [("zh", 0.6), ("en", 0.4)],
        ["伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "杰", "婷", "俊"],
        ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"],
        "fg",
    ),
    "ja": (
        0.06,
        [("ja", 0.6), ("en", 0.4)],
        ["花子", "太郎", "さくら", "健太", "陽菜", "翔", "美咲", "大輔", "愛子"],
        ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村"],
        "f g",
    ),
    "ru": (
        0.06,
        [("ru", 0.7), ("en", 0.3)],
        ["Иван", "Ольга", "Дмитрий", "Наталья", "Алексей", "Татьяна", "Сергей", "Анна", "Юлия"],
        ["Петров", "Смирнова", "Иванов", "Кузнецова", "Соколов", "Попова", "Волков"],
        "gf",
    ),
}

# Real US area codes: phonenumbers accepts every exchange 200-999 in them. Time zones come from
# core.phones.phone_timezone, as for any contact.
AREA_CODES: list[int] = [
    201,
    202,
    212,
    215,
    216,
    305,
    313,
    404,
    407,
    412,
    617,
    718,
    813,
    919,
    929,
    973,  # Eastern
    214,
    312,
    504,
    512,
    612,
    615,
    713,
    817,
    832,
    901,  # Central
    303,
    602,
    720,
    801,  # Mountain (602: Arizona, no daylight saving)
    206,
    213,
    415,
    503,
    702,
    858,
    909,
    916,
    949,
    971,  # Pacific
]

TAGS = [
    "new patient",
    "vip",
    "invisalign",
    "whitening",
    "insurance: Delta",
    "insurance: Aetna",
    "kids",
    "implant consult",
    "prefers WhatsApp",
    "recall 6m",
]
NOTES = [
    "Prefers afternoon appointments.",
    "Nervous patient — be gentle with reminders.",
    "Spanish-speaking; daughter translates.",
    "Pays cash, no insurance.",
    "Allergic to latex.",
    "Family account with two children.",
    "Works night shifts; text only.",
]
