"""Building blocks of generated message texts, by language: words people write around a message.

``generator.texts`` composes a message from an opener, one core sentence
(``content.TEXTS`` for its role, or one of the sentences here, whose
``{day}``, ``{time}``, ``{kid}``, ``{amount}`` and ``{n}`` slots are
filled), sometimes more sentences, a closing word and an emoji. Nothing
here may read as an opt-out request (``core.compliance.keywords``): no
"stop", "unsubscribe", "remove me", "don't text me" or their translations.

The sentences of each language are in ``generator.phrases_english`` and
``generator.phrases_other_languages``, joined here into ``PHRASES``; what
fills their slots is in ``generator.slot_values``.
"""

from __future__ import annotations

from generator.phrases_english import ENGLISH
from generator.phrases_other_languages import OTHER_LANGUAGES

# ---- sentences ---------------------------------------------------------------------------
# Per language, customer side and front-desk side: openers (with their own trailing space),
# core sentences with slots, extra sentences, closers (with their own leading space).

PHRASES: dict[str, dict[str, list[str]]] = {"en": ENGLISH, **OTHER_LANGUAGES}


# Languages written without spaces between sentences.
NO_SPACES = {"zh", "ja"}

EMOJI_IN = ["🙂", "😊", "🙏", "👍", "😅", "😬", "😣", "❤️", "😂", "🤞", "🦷", "😁", "👌", "🥲", "😷"]
EMOJI_OUT = ["😊", "🙂", "👍", "🦷", "✨", "📅", "🙏"]


# Greetings the front desk opens with, around the customer's first name: (before, after).
GREETINGS: dict[str, list[tuple[str, str]]] = {
    "en": [("Hi ", "! "), ("Hello ", ", "), ("Hi ", ", "), ("Good morning ", "! "), ("Hey ", "! "), ("Thanks ", "! ")],
    "es": [("Hola ", ", "), ("¡Hola ", "! "), ("Buenos días ", ", "), ("Gracias ", ". ")],
    "pt": [("Oi ", ", "), ("Olá ", "! "), ("Bom dia ", ", ")],
    "fr": [("Bonjour ", ", "), ("Bonjour ", " ! "), ("Merci ", " ! ")],
    "de": [("Hallo ", ", "), ("Guten Tag ", ", "), ("Danke ", "! ")],
    "ar": [("مرحباً ", "، "), ("أهلاً ", "، ")],
    "hi": [("नमस्ते ", " जी, "), ("धन्यवाद ", " जी! ")],
    "zh": [("", "您好，"), ("", "，")],
    "ja": [("", "様、"), ("", "さん、")],
    "ru": [("Здравствуйте, ", "! "), ("Добрый день, ", "! ")],
}

# How customers say who is writing, around their first name: (before, after).
INTRODUCTIONS: dict[str, list[tuple[str, str]]] = {
    "en": [("Hi, it's ", ". "), ("Hello, this is ", ". "), ("Hey it's ", " "), ("", " here. "), ("Hi, ", " here. ")],
    "es": [("Hola, soy ", ". "), ("Buenas, habla ", ". "), ("Hola, es ", ". ")],
    "pt": [("Oi, aqui é ", ". "), ("Olá, é ", ". ")],
    "fr": [("Bonjour, c'est ", ". "), ("Bonjour, ici ", ". ")],
    "de": [("Hallo, hier ist ", ". "), ("Guten Tag, ", " hier. ")],
    "ar": [("مرحبا، معك ", ". "), ("أنا ", ". ")],
    "hi": [("नमस्ते, मैं ", " बोल रही हूँ। "), ("नमस्ते, ", " यहाँ। ")],
    "zh": [("你好，我是", "。"), ("您好，我是", "。")],
    "ja": [("", "です。"), ("こんにちは、", "です。")],
    "ru": [("Здравствуйте, это ", ". "), ("Добрый день, это ", ". ")],
}

# More sentences with slots, so that extras vary by word too.
EXTRA_SLOTTED: dict[str, dict[str, list[str]]] = {
    "en": {
        "in": [
            "I work until {time} on weekdays.",
            "I'm free after {time}.",
            "{kid} has school until {time}.",
            "My last visit was in {day}, I think.",
            "I can leave work at {time} on {day}.",
            "I paid {amount} at the other place.",
            "It started about {n} days ago.",
            "The bus gets me there by {time}.",
            "{kid} is {n} now, time flies!",
            "We're away until {day}.",
            "I have a meeting at {time} so earlier is better.",
        ],
        "out": [
            "We're open until {time} on {day}.",
            "Your copay should be about {amount}.",
            "The visit takes about {n} minutes.",
            "{day} is also possible if that suits you better.",
            "We can also see {kid} at {time}.",
            "Our last slot on {day} is {time}.",
        ],
    },
    "es": {
        "in": [
            "Salgo del trabajo a las {time}.",
            "{kid} sale de la escuela a las {time}.",
            "Empezó hace {n} días.",
            "Estoy libre después de las {time}.",
        ],
        "out": ["Abrimos hasta las {time} el {day}.", "El copago sería de unos {amount}."],
    },
    "pt": {"in": ["Saio do trabalho às {time}.", "Começou há {n} dias."], "out": ["Ficamos abertos até {time}."]},
    "fr": {
        "in": ["Je finis le travail à {time}.", "Ça a commencé il y a {n} jours."],
        "out": ["Nous sommes ouverts jusqu'à {time} le {day}."],
    },
    "de": {
        "in": ["Ich habe um {time} Feierabend.", "Es hat vor {n} Tagen angefangen."],
        "out": ["Wir haben {day} bis {time} geöffnet."],
    },
    "ar": {"in": ["أنهي العمل الساعة {time}.", "بدأ الألم منذ {n} أيام."], "out": ["نحن مفتوحون حتى الساعة {time}."]},
    "hi": {"in": ["मैं {time} काम से निकलता हूँ।", "{n} दिन पहले शुरू हुआ।"], "out": ["हम {time} तक खुले हैं।"]},
    "zh": {"in": ["我{time}下班。", "{n}天前开始的。"], "out": ["我们{day}营业到{time}。"]},
    "ja": {"in": ["{time}に仕事が終わります。", "{n}日前からです。"], "out": ["{day}は{time}まで開いています。"]},
    "ru": {"in": ["Я заканчиваю работу в {time}.", "Началось {n} дней назад."], "out": ["Мы работаем до {time}."]},
}


# More two-slot sentences for the languages written by fewer contacts, so that their texts
# vary as much as English ones do.
MORE_CORES: dict[str, dict[str, list[str]]] = {
    "es": {
        "in": [
            "¿Hay lugar para {kid} el {day}?",
            "¿El {day} a las {time} sigue libre?",
            "Salgo a las {time}, ¿puedo ir el {day}?",
            "Me cobraron {amount}, ¿está bien?",
            "¿Puedo llevar a {kid} el {day} a las {time}?",
            "Mi cita era el {day} a las {time}, ¿verdad?",
            "Llevo {n} días esperando la factura de {amount}.",
        ],
        "out": [
            "Le esperamos el {day} a las {time}.",
            "A {kid} le toca revisión el {day}.",
            "Su copago es de {amount}.",
            "El doctor puede el {day} a las {time}.",
            "Quedan {n} lugares el {day}.",
        ],
    },
    "pt": {
        "in": [
            "Tem vaga para {kid} na {day}?",
            "{day} às {time} ainda está livre?",
            "Saio às {time}, posso ir na {day}?",
            "Me cobraram {amount}, está certo?",
            "Posso levar {kid} na {day} às {time}?",
            "Minha consulta era na {day} às {time}, né?",
            "Faz {n} dias que espero o boleto de {amount}.",
        ],
        "out": [
            "Esperamos você na {day} às {time}.",
            "{kid} pode vir na {day} às {time}.",
            "Sua coparticipação é {amount}.",
            "A doutora atende na {day} às {time}.",
            "Temos {n} horários na {day}.",
        ],
    },
    "fr": {
        "in": [
            "Il reste une place pour {kid} {day} ?",
            "{day} à {time}, c'est toujours libre ?",
            "Je finis à {time}, je peux venir {day} ?",
            "On m'a facturé {amount}, c'est normal ?",
            "Je peux amener {kid} {day} à {time} ?",
            "Mon rendez-vous était {day} à {time}, non ?",
            "J'attends la facture de {amount} depuis {n} jours.",
        ],
        "out": [
            "Nous vous attendons {day} à {time}.",
            "{kid} peut venir {day} à {time}.",
            "Votre reste à charge est de {amount}.",
            "Le docteur est disponible {day} à {time}.",
            "Il reste {n} créneaux {day}.",
        ],
    },
    "de": {
        "in": [
            "Ist {day} noch ein Termin für {kid} frei?",
            "Ist {day} um {time} noch frei?",
            "Ich habe um {time} Schluss, geht {day}?",
            "Mir wurden {amount} berechnet, stimmt das?",
            "Kann ich {kid} {day} um {time} mitbringen?",
            "Mein Termin war {day} um {time}, oder?",
            "Ich warte seit {n} Tagen auf die Rechnung über {amount}.",
        ],
        "out": [
            "Wir erwarten Sie {day} um {time}.",
            "{kid} kann {day} um {time} kommen.",
            "Ihr Eigenanteil beträgt {amount}.",
            "Die Ärztin hat {day} um {time} Zeit.",
            "Es gibt {day} noch {n} freie Termine.",
        ],
    },
    "ar": {
        "in": [
            "هل يوجد مكان لـ{kid} يوم {day}؟",
            "هل ما زال موعد يوم {day} الساعة {time} متاحاً؟",
            "أنهي عملي الساعة {time}، هل يمكنني الحضور يوم {day}؟",
            "دفعت {amount}، هل هذا صحيح؟",
            "هل أستطيع إحضار {kid} يوم {day} الساعة {time}؟",
            "أنتظر الفاتورة بقيمة {amount} منذ {n} أيام.",
        ],
        "out": [
            "ننتظرك يوم {day} الساعة {time}.",
            "يمكن لـ{kid} الحضور يوم {day} الساعة {time}.",
            "حصتك من الدفع {amount}.",
            "لدينا {n} مواعيد متاحة يوم {day}.",
        ],
    },
    "hi": {
        "in": [
            "क्या {day} को {kid} के लिए जगह है?",
            "क्या {day} {time} अभी भी खाली है?",
            "मैं {time} फ़्री होता हूँ, क्या {day} आ सकता हूँ?",
            "मुझसे {amount} लिए गए, क्या यह सही है?",
            "क्या मैं {day} {time} {kid} को ला सकती हूँ?",
            "{n} दिन से {amount} के बिल का इंतज़ार है।",
        ],
        "out": [
            "हम {day} {time} आपका इंतज़ार करेंगे।",
            "{kid} {day} को {time} आ सकता है।",
            "आपका हिस्सा {amount} है।",
            "{day} को {n} समय खाली हैं।",
        ],
    },
    "zh": {
        "in": [
            "{day}还能给{kid}约吗？",
            "{day}{time}还有空吗？",
            "我{time}下班，{day}可以去吗？",
            "收了我{amount}，对吗？",
            "{day}{time}可以带{kid}来吗？",
            "{amount}的账单我等了{n}天了。",
        ],
        "out": [
            "我们{day}{time}等您。",
            "{kid}可以{day}{time}来。",
            "您的自付部分是{amount}。",
            "{day}还有{n}个空位。",
        ],
    },
    "ja": {
        "in": [
            "{day}に{kid}の枠はありますか？",
            "{day}の{time}はまだ空いていますか？",
            "{time}に終わるので{day}に行けますか？",
            "{amount}請求されましたが合っていますか？",
            "{day}の{time}に{kid}を連れて行ってもいいですか？",
            "{amount}の請求書を{n}日待っています。",
        ],
        "out": [
            "{day}の{time}にお待ちしております。",
            "{kid}さんは{day}の{time}に来られます。",
            "自己負担は{amount}です。",
            "{day}はあと{n}枠空いています。",
        ],
    },
    "ru": {
        "in": [
            "Есть ли место для {kid} в {day}?",
            "В {day} в {time} ещё свободно?",
            "Я освобождаюсь в {time}, можно в {day}?",
            "С меня взяли {amount}, это правильно?",
            "Можно привести {kid} в {day} в {time}?",
            "Жду счёт на {amount} уже {n} дней.",
        ],
        "out": [
            "Ждём вас в {day} в {time}.",
            "{kid} может прийти в {day} в {time}.",
            "Ваша доплата {amount}.",
            "В {day} осталось {n} свободных окон.",
        ],
    },
}
for _lang, _sides in MORE_CORES.items():
    for _side, _sentences in _sides.items():
        PHRASES[_lang][f"core_{_side}"] = PHRASES[_lang][f"core_{_side}"] + _sentences
