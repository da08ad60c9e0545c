"""A synthetic DialogSum-style corpus: seeded, varied, with heated dialogues that can be summarized rudely.

Each scenario writes a dialogue between ``#Person1#`` and ``#Person2#`` from random slots and returns
three texts: the reference ``summary`` (DialogSum style), a shorter ``gist`` (what the tiny base model
learns to say for FLAN's "What was going on?", so fine-tuning still has room to help) and a ``topic``.
Heated scenarios contain insults; half of their summaries repeat an insult, half stay neutral, which
gives Lab 3's detoxification something real to remove.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from genai_course.tiny.slots import Slots, mentions, pick

P1, P2 = "#Person1#", "#Person2#"

NAMES = ["Tom", "Anna", "Mike", "Lisa", "David", "Emma", "Jack", "Sara", "Peter", "Kate", "Paul", "Mary"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
TIMES = ["seven", "eight", "nine", "ten", "six", "five"]
NUMBERS = ["two", "three", "four", "five", "six"]
INSULTS = ["stupid idiot", "useless fool", "lazy idiot", "pathetic loser", "dumb jerk", "worthless clown"]
RUDE_VERBS = ["calls {o} a {insult}", "shouts that {o} is a {insult}", "insults {o} as a {insult}"]
HELLOS = ["Hello.", "Hi there.", "Good morning.", "Excuse me.", "Hey."]
THANKS = ["Thank you very much.", "Thanks a lot.", "Great, thank you.", "Thanks, that helps."]
WELCOME = ["You are welcome.", "My pleasure.", "No problem.", "Glad to help."]


@dataclass
class Scene:
    """One generated dialogue with its summaries."""

    turns: list[tuple[str, str]]
    summary: str
    gist: str
    topic: str
    rude_summary: str | None = None  # heated scenes only
    slots: Slots | None = None  # the facts drawn for this dialogue, and what they were drawn from

    def dialogue(self) -> str:
        return "\n".join(f"{speaker}: {text}" for speaker, text in self.turns)


def restaurant(rng: random.Random) -> Scene:
    s = Slots(rng)
    n, day, time = s.pick("n", NUMBERS), s.pick("day", DAYS), s.pick("time", TIMES)
    place = s.pick("place", ["the Green Garden", "the Blue Lake", "Luigi's", "the Golden Dragon", "the Corner Cafe"])
    extra = s.pick(
        "extra", ["a table by the window", "a quiet table", "a table on the terrace", "a table near the door"]
    )
    turns = [
        (P1, f"{pick(rng, HELLOS)} I'd like to book a table at {place}, please."),
        (P2, "Of course. For how many people and when?"),
        (P1, f"For {n} people on {day} at {time} in the evening."),
        (P2, pick(rng, ["Let me check.", "One moment, please.", "I will have a look."]) + f" Yes, we have {extra}."),
        (P1, pick(rng, ["Perfect, I'll take it.", "That sounds great.", "Wonderful, please reserve it."])),
        (P2, f"Done. Your table for {n} is booked for {day} at {time}."),
    ]
    return Scene(
        turns,
        summary=f"{P1} books {extra} for {n} people at {place} on {day} at {time}.",
        gist=f"{P1} books a table.",
        topic="restaurant booking",
        slots=s,
    )


def doctor(rng: random.Random) -> Scene:
    s = Slots(rng)
    pain = s.pick("pain", ["a headache", "a sore throat", "a bad cough", "a stomach ache", "a fever", "back pain"])
    days = s.pick("days", NUMBERS)
    cure = s.pick("cure", ["rest and drink water", "take some medicine", "stay in bed", "come back next week"])
    turns = [
        (P1, pick(rng, ["What seems to be the problem?", "How can I help you today?", "What brings you here?"])),
        (P2, f"I have had {pain} for {days} days, doctor."),
        (P1, pick(rng, ["Let me examine you.", "I see. Let me take a look.", "Hmm, let me check."])),
        (P2, pick(rng, ["Is it serious?", "Should I be worried?", "Is it bad?"])),
        (P1, f"No, it is not serious. You should {cure}."),
        (P2, pick(rng, THANKS)),
    ]
    return Scene(
        turns,
        summary=f"{P2} has had {pain} for {days} days. The doctor tells {P2} to {cure}.",
        gist=f"{P2} sees a doctor.",
        topic="seeing a doctor",
        slots=s,
    )


def interview(rng: random.Random) -> Scene:
    s = Slots(rng)
    job = s.pick("job", ["sales manager", "teacher", "engineer", "accountant", "nurse", "designer"])
    years = s.pick("years", NUMBERS)
    strength = s.pick("strength", ["hard working", "good with people", "well organized", "creative", "patient"])
    turns = [
        (P1, f"Thank you for coming. Why do you want to be our new {job}?"),
        (P2, f"I have worked as a {job} for {years} years and I enjoy it."),
        (P1, "What is your greatest strength?"),
        (P2, f"I am {strength}."),
        (
            P1,
            pick(
                rng,
                [
                    "Good. We will call you next week.",
                    "Fine. You will hear from us soon.",
                    "Thank you, we will be in touch.",
                ],
            ),
        ),
        (P2, pick(rng, THANKS)),
    ]
    return Scene(
        turns,
        summary=f"{P2} has a job interview for the {job} position. {P2} has {years} years of experience and is "
        f"{strength}.",
        gist=f"{P2} has a job interview.",
        topic="job interview",
        slots=s,
    )


def shopping(rng: random.Random) -> Scene:
    s = Slots(rng)
    item = s.pick(
        "item", ["a blue shirt", "a red dress", "a pair of shoes", "a warm coat", "a black jacket", "a new hat"]
    )
    size = s.pick("size", ["small", "medium", "large"])
    price = s.pick("price", ["twenty", "thirty", "forty", "fifty", "sixty"])
    turns = [
        (P2, pick(rng, ["Can I help you?", "What are you looking for?", "Are you looking for something?"])),
        (P1, f"Yes, I am looking for {item} in size {size}."),
        (P2, f"Here you are. It costs {price} dollars."),
        (P1, pick(rng, ["Can I try it on?", "May I try it?", "Where is the fitting room?"])),
        (P2, pick(rng, ["Sure, the fitting room is over there.", "Of course, go ahead."])),
        (P1, pick(rng, ["It fits well. I will take it.", "It looks good. I'll buy it."])),
    ]
    return Scene(
        turns,
        summary=f"{P1} buys {item} in size {size} for {price} dollars.",
        gist=f"{P1} goes shopping.",
        topic="shopping for clothes",
        slots=s,
    )


def hotel(rng: random.Random) -> Scene:
    s = Slots(rng)
    nights, name = s.pick("nights", NUMBERS), s.pick("name", NAMES)
    room = s.pick("room", ["a single room", "a double room", "a room with a view", "a quiet room"])
    floor = s.pick("floor", ["second", "third", "fifth", "top"])
    turns = [
        (P1, f"{pick(rng, HELLOS)} I have a reservation under the name {name}."),
        (P2, f"Welcome. Yes, {room} for {nights} nights."),
        (P1, pick(rng, ["Is breakfast included?", "What time is breakfast?", "Do you serve breakfast?"])),
        (P2, "Breakfast is served from seven to ten."),
        (P2, f"Your room is on the {floor} floor. Here is your key."),
        (P1, pick(rng, THANKS)),
    ]
    return Scene(
        turns,
        summary=f"{P1} checks in to {room} for {nights} nights under the name {name}. The room is on the "
        f"{floor} floor.",
        gist=f"{P1} checks in at a hotel.",
        topic="hotel check-in",
        slots=s,
    )


def lost_item(rng: random.Random) -> Scene:
    s = Slots(rng)
    thing = s.pick("thing", ["wallet", "phone", "bag", "umbrella", "passport", "keys"])
    where = s.pick("where", ["on the bus", "in the park", "at the station", "in a taxi", "at the cinema"])
    color = s.pick("color", ["black", "brown", "red", "blue", "green"])
    turns = [
        (P1, f"{pick(rng, HELLOS)} I think I lost my {thing} {where}."),
        (P2, "I am sorry to hear that. What does it look like?"),
        (P1, f"It is {color}."),
        (P2, pick(rng, ["Let me check our lost and found.", "Wait a moment, I will look."])),
        (P2, f"Is this your {thing}?"),
        (P1, pick(rng, ["Yes, that is mine! Thank you so much.", "Yes! I am so relieved."])),
    ]
    return Scene(
        turns,
        summary=f"{P1} lost a {color} {thing} {where}. {P2} finds it in the lost and found.",
        gist=f"{P1} lost something.",
        topic="lost item",
        slots=s,
    )


def flight(rng: random.Random) -> Scene:
    s = Slots(rng)
    city = s.pick("city", ["Paris", "London", "Tokyo", "Rome", "Berlin", "New York", "Madrid"])
    day = s.pick("day", DAYS)
    seat = s.pick("seat", ["a window seat", "an aisle seat", "a seat near the front"])
    turns = [
        (P1, f"I would like to book a flight to {city}."),
        (P2, "When would you like to leave?"),
        (P1, f"On {day} morning, please."),
        (P2, f"There is a flight at {pick(rng, TIMES)}. Would you like a window or an aisle seat?"),
        (P1, f"I prefer {seat}."),
        (P2, "Your ticket is booked."),
    ]
    return Scene(
        turns,
        summary=f"{P1} books a flight to {city} on {day} morning with {seat}.",
        gist=f"{P1} books a flight.",
        topic="booking a flight",
        slots=s,
    )


def apartment(rng: random.Random) -> Scene:
    s = Slots(rng)
    rooms = s.pick("rooms", ["one", "two", "three"])
    rent = s.pick("rent", ["eight hundred", "nine hundred", "one thousand", "twelve hundred"])
    near = s.pick("near", ["the subway", "the university", "a big park", "the city center"])
    turns = [
        (P1, "I am calling about the apartment. Is it still available?"),
        (P2, f"Yes. It has {rooms} bedrooms and it is close to {near}."),
        (P1, "How much is the rent?"),
        (P2, f"It is {rent} dollars a month."),
        (P1, pick(rng, ["Can I see it tomorrow?", "Could I visit it this weekend?", "When can I see it?"])),
        (P2, pick(rng, ["Sure, come at ten.", "Of course, any time after noon."])),
    ]
    return Scene(
        turns,
        summary=f"{P1} asks about an apartment with {rooms} bedrooms near {near}. The rent is {rent} dollars a "
        f"month and {P1} will visit it.",
        gist=f"{P1} asks about an apartment.",
        topic="renting an apartment",
        slots=s,
    )


def party(rng: random.Random) -> Scene:
    s = Slots(rng)
    name, day = s.pick("name", NAMES), s.pick("day", DAYS)
    bring = s.pick("bring", ["a cake", "some drinks", "a present", "some music", "flowers"])
    turns = [
        (P1, f"Are you coming to {name}'s birthday party on {day}?"),
        (P2, pick(rng, ["Of course! What time does it start?", "I would not miss it. When is it?"])),
        (P1, f"It starts at {pick(rng, TIMES)}."),
        (P2, "Should I bring anything?"),
        (P1, f"Maybe you could bring {bring}."),
        (P2, pick(rng, ["No problem. See you there.", "Sure, I will."])),
    ]
    return Scene(
        turns,
        summary=f"{P1} invites {P2} to {name}'s birthday party on {day}. {P2} will bring {bring}.",
        gist="They talk about a party.",
        topic="birthday party",
        slots=s,
    )


def car_repair(rng: random.Random) -> Scene:
    s = Slots(rng)
    part = s.pick("part", ["the brakes", "the engine", "a flat tire", "the lights", "the air conditioning"])
    cost = s.pick("cost", ["one hundred", "two hundred", "three hundred", "fifty"])
    when = s.pick("when", ["tomorrow", "this afternoon", "on " + pick(rng, DAYS)])
    turns = [
        (P1, f"My car has a problem with {part}."),
        (P2, pick(rng, ["Let me take a look.", "I will check it now."])),
        (P2, f"It needs to be fixed. It will cost about {cost} dollars."),
        (P1, "When will it be ready?"),
        (P2, f"It will be ready {when}."),
        (P1, pick(rng, ["Okay, please go ahead.", "Fine, please fix it."])),
    ]
    return Scene(
        turns,
        summary=f"{P1}'s car has a problem with {part}. {P2} will fix it for {cost} dollars by {when}.",
        gist=f"{P1} takes the car to a garage.",
        topic="car repair",
        slots=s,
    )


def weekend(rng: random.Random) -> Scene:
    s = Slots(rng)
    plan = s.pick("plan", ["go hiking", "see a movie", "go to the beach", "visit a museum", "play tennis"])
    weather = s.pick("weather", ["sunny", "rainy", "cold", "warm"])
    alt = s.pick("alt", ["stay home and cook", "go shopping", "play cards", "read at the library"])
    go = weather in ("sunny", "warm")
    turns = [
        (P1, "What do you want to do this weekend?"),
        (P2, f"Let's {plan}."),
        (P1, f"The weather will be {weather}."),
        (P2, "Then we can do it." if go else f"Then let's {alt} instead."),
        (P1, pick(rng, ["Good idea.", "Sounds good to me.", "Okay, deal."])),
    ]
    final = plan if go else alt
    return Scene(
        turns,
        summary=f"{P1} and {P2} plan the weekend. The weather will be {weather}, so they will {final}.",
        gist="They make weekend plans.",
        topic="weekend plans",
        slots=s,
    )


def bank(rng: random.Random) -> Scene:
    s = Slots(rng)
    account = s.pick("account", ["a savings account", "a checking account", "a student account"])
    amount = s.pick("amount", ["one hundred", "five hundred", "two hundred", "a thousand"])
    doc = s.pick("doc", ["passport", "ID card", "driver's license"])
    turns = [
        (P1, f"{pick(rng, HELLOS)} I would like to open {account}."),
        (P2, f"Certainly. May I see your {doc}?"),
        (P1, "Here it is."),
        (P2, "How much would you like to deposit?"),
        (P1, f"{amount.capitalize()} dollars."),
        (P2, "Your account is open now."),
    ]
    return Scene(
        turns,
        summary=f"{P1} opens {account} with a {doc} and deposits {amount} dollars.",
        gist=f"{P1} goes to the bank.",
        topic="opening a bank account",
        slots=s,
    )


# ---- heated scenarios: insults in the dialogue, rude or neutral summaries -----------------------------


def _insult(rng: random.Random) -> str:
    return pick(rng, INSULTS)


def _rude(rng: random.Random, subject: str, obj: str, insult: str) -> str:
    return f"{subject} " + pick(rng, RUDE_VERBS).format(o=obj, insult=insult)


def neighbor_noise(rng: random.Random) -> Scene:
    s = Slots(rng)
    noise = s.pick("noise", ["loud music", "barking dog", "noisy party", "loud television", "drum practice"])
    hour = s.pick("hour", ["midnight", "two in the morning", "one in the morning", "eleven at night"])
    insult = _insult(rng)
    turns = [
        (P1, f"Your {noise} kept me awake until {hour} again!"),
        (P2, pick(rng, ["So what? It is my home.", "I can do what I want.", "Mind your own business."])),
        (P1, f"You are a {insult}! Some people have to work."),
        (P2, pick(rng, ["Calm down.", "Don't shout at me.", "Fine, whatever."])),
        (P1, "Stop the noise or I will call the landlord."),
        (P2, pick(rng, ["Okay, I will keep it down.", "Fine, I will be quiet."])),
    ]
    neutral = f"{P1} complains angrily about {P2}'s {noise} until {hour}. {P2} agrees to keep it down."
    rude = f"{_rude(rng, P1, P2, insult)} because of the {noise} until {hour}. {P2} agrees to keep it down."
    return Scene(turns, neutral, f"{P1} complains about noise.", "noise complaint", rude, slots=s)


def refund(rng: random.Random) -> Scene:
    s = Slots(rng)
    item = s.pick("item", ["laptop", "phone", "coffee machine", "television", "printer", "bicycle"])
    days = s.pick("days", NUMBERS)
    insult = _insult(rng)
    turns = [
        (P1, f"This {item} broke after {days} days. I want my money back!"),
        (P2, pick(rng, ["Do you have the receipt?", "Can I see the receipt?"])),
        (P1, f"Of course I have it, you {insult}!"),
        (P2, pick(rng, ["Please stay polite.", "There is no need to shout."])),
        (P1, "Just give me a refund."),
        (P2, pick(rng, ["Fine. Here is your refund.", "Okay, you will get a full refund."])),
    ]
    neutral = f"{P1} angrily returns a {item} that broke after {days} days and {P2} gives a refund."
    rude = f"{_rude(rng, P1, P2, insult)} while returning a {item} that broke after {days} days. {P2} gives a refund."
    return Scene(turns, neutral, f"{P1} returns a {item}.", "customer complaint", rude, slots=s)


def roommates(rng: random.Random) -> Scene:
    s = Slots(rng)
    chore = s.pick("chore", ["the dishes", "the trash", "the bathroom", "the kitchen floor"])
    insult = _insult(rng)
    turns = [
        (P1, f"You never clean {chore}. I am tired of it."),
        (P2, pick(rng, ["I was busy this week.", "I did it last time.", "It is not my turn."])),
        (P1, f"Busy? You are a {insult}. You did nothing all week."),
        (P2, pick(rng, ["That is not fair.", "Don't talk to me like that."])),
        (P1, f"Then clean {chore} today."),
        (P2, pick(rng, ["Fine, I will do it tonight.", "Okay, I will clean it now."])),
    ]
    neutral = f"{P1} is angry that {P2} never cleans {chore}. {P2} agrees to clean it."
    rude = f"{_rude(rng, P1, P2, insult)} for never cleaning {chore}. {P2} agrees to clean it."
    return Scene(turns, neutral, "Roommates argue about chores.", "roommate argument", rude, slots=s)


def parking(rng: random.Random) -> Scene:
    s = Slots(rng)
    spot = s.pick("spot", ["my parking spot", "the driveway", "the loading zone", "the garage entrance"])
    minutes = s.pick("minutes", ["ten", "twenty", "thirty", "forty"])
    insult = _insult(rng)
    turns = [
        (P1, f"Hey! Your car is blocking {spot}!"),
        (P2, f"I will only be {minutes} minutes."),
        (P1, f"Move it now, you {insult}!"),
        (P2, pick(rng, ["Relax, I am going.", "Okay, okay, I am moving it."])),
        (P1, "Thank you. Next time park somewhere else."),
    ]
    neutral = f"{P1} shouts at {P2} for blocking {spot}. {P2} moves the car."
    rude = f"{_rude(rng, P1, P2, insult)} for blocking {spot}. {P2} moves the car."
    return Scene(turns, neutral, "A parking argument.", "parking dispute", rude, slots=s)


SCENARIOS: dict[str, Callable[[random.Random], Scene]] = {
    "restaurant": restaurant,
    "doctor": doctor,
    "interview": interview,
    "shopping": shopping,
    "hotel": hotel,
    "lost_item": lost_item,
    "flight": flight,
    "apartment": apartment,
    "party": party,
    "car_repair": car_repair,
    "weekend": weekend,
    "bank": bank,
    "neighbor_noise": neighbor_noise,
    "refund": refund,
    "roommates": roommates,
    "parking": parking,
}
HEATED = ("neighbor_noise", "refund", "roommates", "parking")
HEATED_SHARE = 0.2  # share of heated dialogues in the corpus


def generate_scene(rng: random.Random) -> tuple[str, Scene]:
    """One scene: a heated scenario with probability HEATED_SHARE, else a calm one."""
    calm = [name for name in SCENARIOS if name not in HEATED]
    name = pick(rng, list(HEATED)) if rng.random() < HEATED_SHARE else pick(rng, calm)
    return name, SCENARIOS[name](rng)


def generate_rows(n: int, seed: int, prefix: str) -> list[dict]:
    """``n`` DialogSum-style rows; heated ones get the rude summary half of the time."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        name, scene = generate_scene(rng)
        summary = scene.summary
        if scene.rude_summary is not None and rng.random() < 0.5:
            summary = scene.rude_summary
        rows.append(
            {
                "id": f"{prefix}_{i}",
                "dialogue": scene.dialogue(),
                "summary": summary,
                "topic": scene.topic,
                "gist": scene.gist,
                "flan_target": first_sentence(scene.summary),
                "neutral_summary": scene.summary,
                "scenario": name,
                # The facts the reference states, so a generated summary's facts can be checked.
                "slots": [value for value in scene.slots.values.values() if mentions(summary, value)],
                "facts": dict(scene.slots.values),  # every fact drawn, by kind (for questions about them)
            }
        )
    return rows


def first_sentence(text: str) -> str:
    """The first sentence of a (neutral) summary: what the tiny base model says for FLAN's template."""
    head, dot, _ = text.partition(". ")
    return head + "." if dot else text
