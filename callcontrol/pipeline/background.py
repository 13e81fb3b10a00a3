"""Reference passages for retrieval's confidence: facts of businesses nobody calls about.

How well a question matches a chunk only means something next to how well it
matches text that cannot answer it. e5's cosines between any two English sentences
sit around 0.75–0.85, and an owner with three chunks gives no spread to compare
against, so every search also scores these passages (embedded once per process)
and the confidence uses the question's standard score over the owner's chunks and
these together (``retrieval.py``). They cover many trades on purpose, in the same
short FAQ style as real knowledge; none should answer a real caller.
"""

from __future__ import annotations

BACKGROUND = (
    "The swimming pool is heated to 28 degrees from May to September.",
    "Our bakery uses organic flour from a mill in the next valley.",
    "Hiking boots should be resoled every two seasons.",
    "The museum's east wing shows ceramics from the eighteenth century.",
    "Piano lessons for beginners last forty-five minutes.",
    "The ferry to the island leaves every hour in summer.",
    "Our vineyard grows three grape varieties on the south slope.",
    "The chess club meets in the community hall on Thursday evenings.",
    "Tire pressure should be checked once a month and before long trips.",
    "The zoo's elephants are fed at noon near the north gate.",
    "Yoga mats are cleaned with a vinegar spray after each class.",
    "The observatory opens its telescope to visitors on clear nights.",
    "Our kennel walks every dog twice a day.",
    "The orchestra rehearses in the old theater on Wednesdays.",
    "Bicycle chains need oil after riding in the rain.",
    "The ski lift closes when the wind is stronger than 60 kilometers an hour.",
    "Our tailors can shorten trousers within two days.",
    "The aquarium's shark tunnel is 40 meters long.",
    "Fresh pasta keeps for three days in the fridge.",
    "The golf course asks players to repair their divots.",
    "Our florist delivers wedding bouquets on the morning of the ceremony.",
    "The planetarium show about Mars runs for thirty minutes.",
    "Beekeepers harvest honey at the end of the summer.",
    "The climbing wall has routes for children and experts.",
    "Our print shop can laminate posters up to A1 size.",
    "The botanical garden's greenhouse keeps tropical plants warm all winter.",
    "Dance classes for seniors are held in the small studio.",
    "The car wash offers a wax coating for an extra fee.",
    "Our tea room serves scones with clotted cream.",
    "The marina rents kayaks by the hour.",
    "Guitar strings should be changed every few months.",
    "The farmers market sells cheese from local dairies.",
    "Our pottery studio fires the kiln every Friday night.",
    "The castle tour includes the dungeon and the tower.",
    "Horse riding lessons require a helmet and boots.",
    "The laundromat's dryers take coins and cards.",
    "Our travel agency books cruises to the Norwegian fjords.",
    "The ice rink sharpens skates while you wait.",
    "Aquarium fish should be fed small amounts twice a day.",
    "The jazz bar has live music after nine on weekends.",
    "Our carpentry workshop builds oak tables to order.",
    "The campsite has showers and a small shop.",
    "Sourdough starter needs feeding every day.",
    "The recycling center accepts glass, paper and metal cans.",
    "Our photography studio prints passport photos in ten minutes.",
    "The lighthouse can be climbed on guided tours only.",
    "Knitting circles meet at the wool shop on Sunday afternoons.",
    "The art school exhibits student paintings every June.",
)
