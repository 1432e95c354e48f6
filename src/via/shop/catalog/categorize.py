"""Rules that put a product into a subcategory from its name alone (the retail data has no
categories). Rules are tried in order; the first whose keywords appear as whole words in the
upper-cased name wins (a
keyword also matches its plural with S or ES); a name no rule matches goes to Home & Living › Other gifts.
docs/shop.md lists the same rules and the counts they produce on the demo catalog."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    category: str
    subcategory: str
    keywords: tuple[str, ...]


# Order matters: seasonal and specific words before generic ones ("CHRISTMAS CANDLE" is
# Christmas, not Candles; "CAKE CASES" is Party, not Kitchen; "HOT WATER BOTTLE" is Textiles,
# not Tableware).
RULES: tuple[Rule, ...] = (
    Rule("Seasonal", "Christmas", ("CHRISTMAS", "XMAS", "ADVENT", "SANTA", "REINDEER", "SNOWFLAKE",
                                   "BAUBLE", "NATIVITY", "SNOWMAN", "TREE DECORATION", "ANGEL")),
    Rule("Seasonal", "Easter & spring", ("EASTER", "BUNNY", "CHICK", "EGG")),
    Rule("Seasonal", "Valentine & love", ("VALENTINE", "LOVE")),
    Rule("Party", "Cake cases & baking party", ("CAKE CASES", "CAKE CASE", "CUPCAKE")),
    Rule("Party", "Party tableware", ("PAPER CUPS", "PAPER PLATES", "PAPER NAPKINS", "NAPKINS",
                                      "PARTY", "STRAWS", "PETIT FOUR CASES", "MINI CASES",
                                      "BALLOONS", "PARTY BAG")),
    Rule("Party", "Bunting & garlands", ("BUNTING", "GARLAND", "BALLOON", "PAPER CHAIN")),
    Rule("Stationery & gifts", "Cards & wrap", ("CARD", "CARDS", "WRAP", "GIFT TAG", "GIFT TAGS",
                                                "RIBBON", "RIBBONS", "TISSUE", "GIFT BAG")),
    Rule("Stationery & gifts", "Stationery", ("PEN", "PENCIL", "PENCILS", "NOTEBOOK", "BOOK",
                                              "STICKER", "STICKERS", "ERASER", "WRITING",
                                              "CALENDAR", "ENVELOPE", "ENVELOPES", "NOTE",
                                              "RULER", "STAMP", "DIARY", "JOURNAL", "SKETCHBOOK",
                                              "POSTCARD", "MAGNET", "BADGE", "PAPERWEIGHT",
                                              "TAPE", "SCISSOR", "SEWING", "NEEDLE", "CLIPS",
                                              "LABEL", "ALBUM", "ORGANISER", "CRAFT")),
    Rule("Toys & kids", "Toys & games", ("TOY", "TOYS", "DOLL", "DOLLY", "GAME", "PUZZLE",
                                         "JIGSAW", "DOMINOES", "SKITTLES", "SOLDIER", "TEDDY",
                                         "SPACEBOY", "FELTCRAFT", "COLOURING", "CRAYONS",
                                         "CHILDREN", "CHILDRENS", "KIDS", "BABY", "PLAYHOUSE",
                                         "MAGIC", "BUBBLES", "SPINNING TOP", "HELICOPTER",
                                         "FLYING DISC", "SNAKES & LADDERS", "TATTOO", "PAINT SET",
                                         "SKIPPING ROPE", "MARBLES", "KITE", "TREASURE", "PIRATE",
                                         "DINOSAUR", "ROBOT", "NURSERY", "BLOCK", "BALL")),
    Rule("Fashion & jewellery", "Jewellery", ("NECKLACE", "NECKL", "BRACELET", "EARRINGS",
                                              "RING", "BROOCH", "CHARM", "CHARMS", "BEADS",
                                              "BEADED", "DIAMANTE", "HAIR", "HAIRCLIP",
                                              "HAIRSLIDE", "BANGLE", "PENDANT", "CRYSTAL", "LARIAT",
                                              "HAIRCLIP", "HAIRBAND", "HAIR COMB", "JEWEL",
                                              "GEMSTONE", "PEARL", "SILVER", "GOLD")),
    Rule("Fashion & jewellery", "Bags & purses", ("BAG", "BAGS", "PURSE", "BACKPACK", "HANDBAG",
                                                  "SHOPPER", "TOTE", "RUCKSACK", "WALLET")),
    Rule("Fashion & jewellery", "Accessories", ("UMBRELLA", "SCARF", "GLOVES", "HAT", "SLIPPERS",
                                                "MITTENS", "PONCHO", "APRON", "FAN", "SUNGLASSES",
                                                "COSMETIC", "MAKE UP", "MIRROR COMPACT")),
    Rule("Home & living", "Textiles & warmth", ("HOT WATER BOTTLE", "HAND WARMER", "CUSHION",
                                                "BLANKET", "THROW", "QUILT", "DOORMAT", "RUG",
                                                "HOTTIE", "CURTAIN", "PILLOW")),
    Rule("Kitchen & dining", "Tea & coffee", ("TEA", "TEACUP", "TEAPOT", "COFFEE", "MUG", "MUGS",
                                              "CUP", "CUPS", "SAUCER", "COSY")),
    Rule("Kitchen & dining", "Baking", ("CAKE", "CAKESTAND", "BAKING", "BISCUIT", "COOKIE",
                                        "CUTTER", "CUTTERS", "MOULD", "ICING", "JELLY", "RECIPE",
                                        "PUDDING")),
    Rule("Kitchen & dining", "Tableware", ("PLATE", "PLATES", "BOWL", "BOWLS", "DISH", "TRAY",
                                           "JUG", "GLASS", "GLASSES", "CUTLERY", "SPOON",
                                           "SPOONS", "FORK", "PLACEMATS", "COASTER", "COASTERS",
                                           "TUMBLER", "BEAKER", "BOTTLE", "EGG CUP", "TABLECLOTH",
                                           "TOASTRACK", "TOAST", "NAPKIN", "FLASK", "CHOPSTICK",
                                           "CRUET", "SALT", "BUTTER", "SERVING")),
    Rule("Kitchen & dining", "Kitchen storage", ("JAR", "JARS", "LUNCH BOX", "LUNCHBOX",
                                                 "CONTAINER", "CANISTER", "STORAGE TIN",
                                                 "BREAD BIN", "PANTRY", "KITCHEN", "OVEN",
                                                 "TEA TOWEL", "TOWEL", "CHOPPING BOARD")),
    Rule("Home & living", "Bath & travel", ("BATH", "BATHROOM", "SOAP", "WASHBAG", "SHOWER",
                                            "LUGGAGE TAG", "PASSPORT", "TRAVEL", "TOILET",
                                            "TOOTHBRUSH", "SPONGE", "SCALES", "TISSUES")),
    Rule("Home & living", "Candles & lights", ("CANDLE", "CANDLES", "T-LIGHT", "TLIGHT",
                                               "LANTERN", "LIGHT", "LIGHTS", "LAMP", "NIGHTLIGHT",
                                               "CANDLESTICK", "TEALIGHT", "INCENSE", "OIL BURNER",
                                               "CANDLEHOLDER")),
    Rule("Home & living", "Clocks", ("CLOCK", "CLOCKS")),
    Rule("Home & living", "Signs & wall art", ("SIGN", "PLAQUE", "MIRROR", "FRAME", "PICTURE",
                                               "POSTER", "WALL ART", "PRINT", "CANVAS",
                                               "BLACKBOARD", "CHALKBOARD")),
    Rule("Home & living", "Storage & organising", ("BOX", "BOXES", "TIN", "TINS", "BASKET",
                                                   "DRAWER", "HOOK", "HOOKS", "HANGER",
                                                   "HANGERS", "CABINET", "SHELF", "CRATE",
                                                   "PEG", "PEGS", "TRUG", "CASE", "HOLDER",
                                                   "STAND", "DOORSTOP", "KNOB", "KEY")),
    Rule("Garden & outdoor", "Garden", ("GARDEN", "PLANT", "PLANTER", "POT", "POTS", "SEED",
                                        "SEEDS", "WATERING", "HERB", "BIRD", "BIRDHOUSE",
                                        "FEEDER", "SECATEURS", "GNOME", "PICNIC", "THERMOMETER",
                                        "WINDMILL", "WHEELBARROW", "PARASOL", "FLOWER", "FLOWERS",
                                        "GROW", "SOW", "BEACH", "SPADE", "TROWEL", "FORK SET",
                                        "WATERING CAN", "SHED", "CHAIR", "STOOL")),
    Rule("Home & living", "Decorations", ("DECORATION", "DECORATIONS", "HANGING", "HEART",
                                          "HEARTS", "ORNAMENT", "WREATH", "STAR", "BUTTERFLY",
                                          "BIRDS", "FEATHER", "VASE", "SCULPTURE", "FIGURE",
                                          "CHANDELIER", "MOBILE", "WIND CHIME", "DOOR", "ROSE",
                                          "SHELL", "NUMBER TILE", "LETTER", "LETTERS", "BIN",
                                          "DOORSIGN", "CHIME", "BELL", "SKULL", "OWL", "CAT",
                                          "DOG", "HORSE", "ELEPHANT", "GEISHA", "PORCELAIN")),
)
FALLBACK = Rule("Home & living", "Other gifts", ())

_COMPILED = tuple(
    (rule, re.compile(r"\b(?:" + "|".join(re.escape(k) for k in rule.keywords) + r")(?:S|ES)?\b"))
    for rule in RULES
)


def categorize(name: str) -> Rule:
    """The first rule whose keywords occur as whole words in the product name."""
    upper = (name or "").upper()
    for rule, pattern in _COMPILED:
        if pattern.search(upper):
            return rule
    return FALLBACK


def category_tree() -> dict[str, list[str]]:
    """Top-level categories and their subcategories, in rule order."""
    tree: dict[str, list[str]] = {}
    for rule in (*RULES, FALLBACK):
        subs = tree.setdefault(rule.category, [])
        if rule.subcategory not in subs:
            subs.append(rule.subcategory)
    return tree
