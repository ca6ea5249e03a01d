"""What fills the slots of generated sentences, by language: days and dates, times, children's names,
amounts and small numbers.

``generator.texts`` fills the ``{day}``, ``{time}``, ``{kid}``, ``{amount}`` and ``{n}`` slots of the
sentences in ``generator.phrases`` from these lists. They are values, not sentences, so they live
apart from the words people write around them.
"""

from __future__ import annotations

DAYS: dict[str, list[str]] = {
    "en": [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "tomorrow",
        "next week",
        "Monday morning",
        "Friday afternoon",
        "the 14th",
        "the 21st",
        "next Tuesday",
        "this Thursday",
    ],
    "es": [
        "lunes",
        "martes",
        "miércoles",
        "jueves",
        "viernes",
        "sábado",
        "mañana",
        "la próxima semana",
        "el lunes por la mañana",
        "el día 14",
        "el próximo martes",
        "este jueves",
    ],
    "pt": [
        "segunda",
        "terça",
        "quarta",
        "quinta",
        "sexta",
        "sábado",
        "amanhã",
        "semana que vem",
        "dia 14",
        "a próxima terça",
    ],
    "fr": [
        "lundi",
        "mardi",
        "mercredi",
        "jeudi",
        "vendredi",
        "samedi",
        "demain",
        "la semaine prochaine",
        "lundi matin",
        "le 14",
        "mardi prochain",
    ],
    "de": [
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
        "morgen",
        "nächste Woche",
        "Montagvormittag",
        "am 14.",
        "nächsten Dienstag",
    ],
    "ar": ["الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "غداً", "الأسبوع القادم"],
    "hi": ["सोमवार", "मंगलवार", "बुधवार", "गुरुवार", "शुक्रवार", "शनिवार", "कल", "अगले हफ़्ते"],
    "zh": ["周一", "周二", "周三", "周四", "周五", "周六", "明天", "下周", "下周二", "这周四"],
    "ja": ["月曜日", "火曜日", "水曜日", "木曜日", "金曜日", "土曜日", "明日", "来週", "来週の火曜日"],
    "ru": ["понедельник", "вторник", "среду", "четверг", "пятницу", "субботу", "завтра", "следующей неделе"],
}


def _times(fmt) -> list[str]:
    return [fmt(h, m) for h in range(8, 19) for m in range(0, 60, 5)]


def _ampm(h: int, m: int) -> str:
    return f"{h % 12 or 12}:{m:02d} {'am' if h < 12 else 'pm'}"


TIMES: dict[str, list[str]] = {
    "en": _times(_ampm),
    "es": _times(lambda h, m: f"{h}:{m:02d}"),
    "pt": _times(lambda h, m: f"{h}h{m:02d}" if m else f"{h}h"),
    "fr": _times(lambda h, m: f"{h} h {m:02d}" if m else f"{h} h"),
    "de": _times(lambda h, m: f"{h}:{m:02d} Uhr"),
    "ar": _times(lambda h, m: f"{h}:{m:02d}"),
    "hi": _times(lambda h, m: f"{h}:{m:02d} बजे"),
    "zh": _times(lambda h, m: f"{h}点{m}分" if m else f"{h}点"),
    "ja": _times(lambda h, m: f"{h}時{m}分" if m else f"{h}時"),
    "ru": _times(lambda h, m: f"{h}:{m:02d}"),
}
KIDS: dict[str, list[str]] = {
    "en": ["Emma", "Liam", "Noah", "Ava", "Mia", "Lucas", "Ella", "Jack", "Grace", "Leo", "Chloe", "Owen"],
    "es": ["Mateo", "Sofía", "Diego", "Valeria", "Santiago", "Lucía", "Emilio", "Camila", "Tomás", "Renata"],
    "pt": ["Miguel", "Helena", "Davi", "Alice", "Gael", "Laura", "Heitor"],
    "fr": ["Léa", "Hugo", "Chloé", "Louis", "Manon", "Jules", "Inès"],
    "de": ["Mia", "Ben", "Emilia", "Paul", "Hanna", "Finn", "Lina"],
    "ar": ["آدم", "ريم", "زياد", "جنى", "كريم", "هلا"],
    "hi": ["आरव", "अनन्या", "विवान", "दिया", "कबीर", "सान्वी"],
    "zh": ["小明", "乐乐", "豆豆", "悦悦", "天天", "朵朵"],
    "ja": ["ゆうと", "さくら", "はると", "ひなた", "そうた", "めい"],
    "ru": ["Миша", "Даша", "Артём", "Соня", "Егор", "Варя"],
}
AMOUNTS = [f"${n}" for n in range(40, 1500, 5)] + [f"${n}.50" for n in range(40, 400, 5)]
NUMBERS = [str(n) for n in range(2, 61)]

# Dates ("March 14"), where a date reads right in the day slot of the language's sentences.
_MONTHS = {
    "en": ("January February March April May June July August September October November December", "{m} {d}"),
    "es": ("enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre", "{d} de {m}"),
    "fr": ("janvier février mars avril mai juin juillet août septembre octobre novembre décembre", "{d} {m}"),
    "de": ("Januar Februar März April Mai Juni Juli August September Oktober November Dezember", "{d}. {m}"),
    "ar": ("يناير فبراير مارس أبريل مايو يونيو يوليو أغسطس سبتمبر أكتوبر نوفمبر ديسمبر", "{d} {m}"),
    "hi": ("जनवरी फ़रवरी मार्च अप्रैल मई जून जुलाई अगस्त सितंबर अक्टूबर नवंबर दिसंबर", "{d} {m}"),
    "zh": ("1月 2月 3月 4月 5月 6月 7月 8月 9月 10月 11月 12月", "{m}{d}日"),
    "ja": ("1月 2月 3月 4月 5月 6月 7月 8月 9月 10月 11月 12月", "{m}{d}日"),
}
for _lang, (_names, _form) in _MONTHS.items():
    DAYS[_lang] = DAYS[_lang] + [_form.format(m=m, d=d) for m in _names.split() for d in range(1, 29)]
