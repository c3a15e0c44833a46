"""Writes products.ndjson, the demo collection's documents (deterministic: seed 7).

Run `python3 demo/generate.py > demo/products.ndjson` to make it again.
"""
import json
import random

random.seed(7)
brands = ["Acme", "Northwind", "Fabrikam", "Contoso", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli"]
kinds = {
    "audio": ["wireless headphones", "noise cancelling headphones", "bluetooth speaker", "soundbar", "earbuds", "studio monitor", "turntable"],
    "computers": ["mechanical keyboard", "wireless mouse", "laptop stand", "usb-c hub", "external ssd", "monitor arm", "webcam"],
    "home": ["espresso machine", "electric kettle", "air purifier", "robot vacuum", "desk lamp", "smart thermostat", "blender"],
    "outdoor": ["hiking backpack", "camping tent", "sleeping bag", "trail running shoes", "water bottle", "headlamp", "trekking poles"],
    "kitchen": ["chef knife", "cast iron skillet", "cutting board", "stand mixer", "rice cooker", "pour over coffee maker", "spice grinder"],
}
adjectives = ["compact", "premium", "lightweight", "durable", "portable", "quiet", "ergonomic", "waterproof", "rechargeable", "foldable"]
features = ["long battery life", "fast charging", "a two year warranty", "recycled materials", "a travel case",
            "adjustable settings", "a stainless steel finish", "low power use", "easy cleaning", "a quiet motor"]
colors = ["black", "white", "silver", "blue", "green", "red"]

for n in range(1, 241):
    category = random.choice(list(kinds))
    kind = random.choice(kinds[category])
    brand = random.choice(brands)
    adjective = random.choice(adjectives)
    picked = random.sample(features, 2)
    doc = {
        "id": f"sku-{n:04d}",
        "title": f"{brand} {adjective} {kind}",
        "description": f"A {adjective} {kind} in {random.choice(colors)} with {picked[0]} and {picked[1]}.",
        "brand": brand,
        "category": category,
        "price": round(random.uniform(5, 400), 2),
        "rating": round(random.uniform(2.5, 5), 1),
        "inStock": random.random() > 0.2,
        "releasedAt": f"20{random.randint(19, 26)}-{random.randint(1, 12):02d}-{random.randint(1, 28):02d}T09:00:00Z",
    }
    print(json.dumps(doc))
