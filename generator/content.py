"""What the generated workspaces say: message texts by language and role, campaigns and
templates, the opt-out texts.

Pure data; ``generator.write`` picks from these with numpy, so adding a line here changes the
mix without touching code. Who the contacts are is in ``generator.population``, the files
attached to messages in ``generator.attachments``.
"""

from __future__ import annotations

# ---- texts by language ----------------------------------------------------------------
# roles: reply = first answer to a campaign, open = first message of an unsolicited thread,
#        in = later customer messages, out = front-desk answers.

TEXTS: dict[str, dict[str, list[str]]] = {
    "en": {
        "reply": [
            "YES",
            "Yes please! Can I come Thursday afternoon?",
            "Yes — anything early next week?",
            "Sure, what times do you have?",
            "Can I move my appointment to Thursday?",
            "Yes! Mornings work best for me 🙂",
            "Is Saturday possible?",
            "Yes for me and my son please",
            "How much is a cleaning without insurance?",
            "Yes. After 5 if you have it",
        ],
        "open": [
            "Hi, do you have any openings this week?",
            "Hello, I found you on Google. Do you take new patients?",
            "I chipped a tooth last night 😬 can someone see me today?",
            "Hi this is Dana's mom, she needs to reschedule",
            "Do you accept Aetna?",
            "Is this the dentist on Main St?",
        ],
        "in": [
            "Can I move my appointment to Thursday?",
            "Thanks! 🙏",
            "Running 10 minutes late, sorry!",
            "Do you take Delta Dental insurance?",
            "What's the address again?",
            "Is parking available?",
            "My son needs a check-up too",
            "Ok see you then 👍",
            "Perfect, thank you so much!",
            "I have a toothache since yesterday 😣 any chance today?",
            "Can you text me the total cost?",
            "Great, 2:30 works",
            "Sorry, I have to cancel tomorrow — can we do next week?",
            "Do I need to bring anything?",
            "Got it, thanks!",
            "👍",
        ],
        "out": [
            "Hi! We have Thursday at 2:30 pm or 4:00 pm — which works better?",
            "You're all set for Tuesday at 9:00 am. See you then!",
            "Yes, we accept Delta Dental and most PPO plans.",
            "We're at 120 Main Street, Suite 4 — free parking behind the building.",
            "No problem, we'll see you when you get here.",
            "A cleaning without insurance is $120, and the exam is included.",
            "We can fit you in today at 4:15 pm. Does that work?",
            "Of course! How old is he?",
            "Just bring your insurance card and a photo ID 😊",
            "Thanks for letting us know!",
            "Your appointment is confirmed. Reply here if anything changes.",
            "Sorry to hear that! Please rinse with warm salt water; we'll see you at 11.",
        ],
    },
    "es": {
        "reply": [
            "Sí, por favor",
            "¿Tienen cita el sábado?",
            "Sí, ¿tienen algo el martes por la mañana?",
            "Claro, ¿qué horarios tienen?",
            "Sí, para mí y mi hija 🙂",
        ],
        "open": [
            "Hola, ¿atienden pacientes nuevos?",
            "Buenas tardes, ¿aceptan seguro Cigna?",
            "Hola, me duele una muela 😣 ¿pueden verme hoy?",
        ],
        "in": [
            "¿Tienen cita el sábado?",
            "Muchas gracias 🙏",
            "Perfecto, allí estaré",
            "¿Dónde se estaciona?",
            "Voy a llegar 10 minutos tarde, perdón",
            "¿Cuánto cuesta la limpieza?",
            "Gracias, hasta mañana",
            "¿Puedo cambiar la cita al jueves?",
        ],
        "out": [
            "Claro, tenemos el sábado a las 10:00. ¿Le va bien?",
            "¡Listo! Su cita es el jueves a las 3:00 pm.",
            "Hay estacionamiento gratis detrás del edificio.",
            "No se preocupe, la esperamos.",
            "La limpieza cuesta $120 sin seguro.",
            "Sí, el jueves a las 4:30 está libre.",
        ],
    },
    "pt": {
        "reply": ["Sim, pode ser na sexta?", "Sim! Tem horário de manhã?", "Quero sim, obrigado!"],
        "open": ["Olá, vocês atendem aos sábados?", "Bom dia, preciso remarcar minha consulta"],
        "in": [
            "Obrigado!",
            "Perfeito, até lá 😊",
            "Posso levar minha filha também?",
            "Vou atrasar uns 10 minutos",
            "Qual é o endereço?",
        ],
        "out": [
            "Claro! Sexta às 10h está livre.",
            "Pode sim, é só avisar a idade dela.",
            "Sem problema, estamos aguardando.",
            "Rua Main, 120, sala 4 — estacionamento atrás do prédio.",
        ],
    },
    "fr": {
        "reply": [
            "Oui, mardi matin si possible",
            "Oui merci ! Quels créneaux avez-vous ?",
            "Volontiers, plutôt en fin de journée",
        ],
        "open": ["Bonjour, prenez-vous de nouveaux patients ?", "Bonjour, j'ai perdu un plombage 😕"],
        "in": [
            "Merci beaucoup !",
            "Parfait, à jeudi",
            "Est-ce qu'il y a un parking ?",
            "Je serai un peu en retard",
            "Faut-il apporter quelque chose ?",
        ],
        "out": [
            "Avec plaisir ! Mardi 9 h 30 vous convient ?",
            "C'est noté, à jeudi !",
            "Oui, parking gratuit derrière le bâtiment.",
            "Votre carte d'assurance suffit 😊",
        ],
    },
    "de": {
        "reply": ["Ja, gerne am Montag", "Ja bitte, geht Freitag?", "Gern, am liebsten vormittags"],
        "open": ["Hallo, nehmen Sie neue Patienten?", "Guten Tag, ich brauche einen Termin für meine Tochter"],
        "in": [
            "Danke!",
            "Perfekt, bis dann 👍",
            "Gibt es Parkplätze?",
            "Ich komme 10 Minuten später",
            "Muss ich etwas mitbringen?",
        ],
        "out": [
            "Gerne! Montag um 14:00 Uhr ist frei.",
            "Ja, kostenlose Parkplätze hinter dem Gebäude.",
            "Kein Problem, wir warten auf Sie.",
            "Nur Ihre Versicherungskarte, danke!",
        ],
    },
    "ar": {
        "reply": ["نعم، هل يوجد موعد يوم الخميس؟", "نعم من فضلك", "نعم، الصباح أفضل لي"],
        "open": ["مرحبا، هل تستقبلون مرضى جدد؟", "السلام عليكم، عندي ألم في الضرس 😣"],
        "in": ["شكرا لكم", "ممتاز، أراكم غداً", "هل يوجد موقف للسيارات؟", "سأتأخر عشر دقائق، آسف", "هل تقبلون التأمين؟"],
        "out": [
            "شكراً لك! موعدك يوم الخميس الساعة 3 مساءً",
            "نعم، يوجد موقف مجاني خلف المبنى",
            "لا مشكلة، بانتظارك",
            "نعم، نقبل معظم شركات التأمين",
        ],
    },
    "hi": {
        "reply": ["हाँ, क्या शनिवार को अपॉइंटमेंट मिल सकता है?", "जी हाँ, सुबह का समय ठीक रहेगा", "हाँ, शाम 5 बजे के बाद"],
        "open": ["नमस्ते, क्या आप नए मरीज़ देखते हैं?", "मेरे दाँत में दर्द है, क्या आज मिल सकते हैं?"],
        "in": ["धन्यवाद 🙏", "ठीक है, कल मिलते हैं", "पार्किंग कहाँ है?", "मैं 10 मिनट देर से आऊँगा", "क्या मुझे कुछ लाना होगा?"],
        "out": [
            "ज़रूर! शनिवार सुबह 10 बजे का समय खाली है।",
            "आपका अपॉइंटमेंट पक्का हो गया है।",
            "कोई बात नहीं, हम इंतज़ार करेंगे।",
            "बस अपना बीमा कार्ड ले आइए।",
        ],
    },
    "zh": {
        "reply": ["好的，周四下午可以吗？", "可以，请问有周末的时间吗？", "好的，早上比较方便"],
        "open": ["你好，请问你们收新病人吗？", "你好，我牙疼，今天可以看吗？😣"],
        "in": ["谢谢！", "好的，明天见", "请问哪里可以停车？", "我会晚到十分钟，抱歉", "需要带什么吗？"],
        "out": ["好的，已为您预约周四下午三点。", "大楼后面有免费停车场。", "没关系，我们等您。", "请带上您的保险卡。"],
    },
    "ja": {
        "reply": [
            "はい、木曜日の午後は空いていますか？",
            "お願いします！土曜日は可能ですか？",
            "はい、午前中が希望です",
        ],
        "open": ["こんにちは、新規の患者も受け付けていますか？", "歯が痛いのですが、今日診てもらえますか？"],
        "in": [
            "ありがとうございます",
            "了解です、また明日",
            "駐車場はありますか？",
            "10分ほど遅れます、すみません",
            "何か持っていくものはありますか？",
        ],
        "out": [
            "木曜日の午後3時でご予約をお取りしました。",
            "建物の裏に無料駐車場があります。",
            "大丈夫です、お待ちしております。",
            "保険証だけお持ちください。",
        ],
    },
    "ru": {
        "reply": ["Да, можно в четверг вечером?", "Да, пожалуйста. Есть время утром?", "Да, лучше после обеда"],
        "open": ["Здравствуйте, вы принимаете новых пациентов?", "Добрый день, у меня болит зуб 😣"],
        "in": [
            "Спасибо!",
            "Отлично, до встречи",
            "Где можно припарковаться?",
            "Опоздаю на 10 минут, извините",
            "Нужно что-то взять с собой?",
        ],
        "out": [
            "Конечно! Четверг в 17:00 свободен.",
            "Парковка бесплатная, за зданием.",
            "Ничего страшного, ждём вас.",
            "Только страховую карту, спасибо.",
        ],
    },
}

LANGUAGES = list(TEXTS)
ROLES = ("reply", "open", "in", "out")

# ---- campaigns and templates ----------------------------------------------------------

CAMPAIGNS = [  # (name, channel, body)
    (
        "Cleaning recall",
        "sms",
        "Hi {{first_name}}, your cleaning is due — reply YES to book, or tell us a day that suits you.",
    ),
    (
        "Check-up reminder (WhatsApp)",
        "whatsapp",
        "Hello {{first_name}} 👋 It's been 6 months since your last check-up at Brightside Dental. Reply here and we'll find a time.",
    ),
    (
        "Saturday hours launch",
        "sms",
        "Hi {{first_name}}, Brightside Dental is now open Saturdays 9–2! Reply to book. Reply STOP to opt out.",
    ),
    (
        "Whitening offer",
        "sms",
        "Hi {{first_name}}, this month teeth whitening is 20% off at Brightside Dental ✨ Reply to book a consult.",
    ),
]
CHECKUP_TEMPLATE = "checkup_recall"
TEMPLATES = [  # (name, channel, body, registered, provider_name, language)
    ("Check-up recall", "whatsapp", CAMPAIGNS[1][2], True, CHECKUP_TEMPLATE, "en_US"),
    (
        "Appointment reminder",
        "whatsapp",
        "Hi {{first_name}}, this is a reminder of your appointment at Brightside Dental on {{date}} at {{time}}. "
        "Reply C to confirm or R to reschedule.",
        True,
        "appointment_reminder",
        "en_US",
    ),
    (
        "Recordatorio de cita",
        "whatsapp",
        "Hola {{first_name}}, le recordamos su cita en Brightside Dental el {{date}} a las {{time}}.",
        True,
        "appointment_reminder",
        "es",
    ),
    ("Directions", None, "We're at 120 Main Street, Suite 4 — free parking behind the building.", False, None, "en_US"),
    (
        "Running late",
        "sms",
        "Hi {{first_name}}, no problem — we'll hold your appointment for 15 minutes.",
        False,
        None,
        "en_US",
    ),
    (
        "Insurance accepted",
        None,
        "We accept Delta Dental, Aetna, Cigna, MetLife and most PPO plans.",
        False,
        None,
        "en_US",
    ),
]

# Campaign templates: the demo's campaigns, ready to send again from the Campaigns page.
TEMPLATES += [
    (
        name,
        channel,
        body,
        channel == "whatsapp",
        "checkup_recall" if channel == "whatsapp" else None,
        "en_US",
        "campaign",
    )
    for name, channel, body in CAMPAIGNS
]
TEMPLATE_CATEGORIES = {"checkup_recall": "marketing", "appointment_reminder": "utility"}

STOP_TEXT = "STOP"
OPTOUT_CONFIRMATION = "You are unsubscribed and will receive no more messages from us. Reply START to resubscribe."
AFTER_OPTOUT_TEXT = "Hi, just checking whether you still want your cleaning booked?"
POSSIBLE_OPTOUT_TEXT = "Please stop texting me, I moved to Denver"
