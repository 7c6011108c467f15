#!/usr/bin/env python3
"""Write test/data/product_titles.csv: short synthetic product titles with a category.

A seeded generator (Python's random.Random(20261205)), so the file is byte-for-byte stable:
    /usr/bin/python3 test/data/make_product_titles.py
Each title is a brand, an optional adjective shared by every category, a category noun and an
optional category detail, e.g. "Norvik compact espresso maker 1.2 l". 120 titles per category, in
random order. The words are invented for this file; no source data is copied.
"""
import csv
import os
import random

BRANDS = ["Norvik", "Alto", "Kestrel", "Brisa", "Tamarin", "Oakhill", "Zephyr", "Lumen", "Vesta", "Corvo"]
SHARED = ["compact", "classic", "premium", "essential", "lightweight", "deluxe", "smart", "eco", "pro", "mini"]
CATEGORIES = {
    "electronics": (["wireless earbuds", "bluetooth speaker", "usb-c charger", "laptop stand", "hdmi cable",
                     "power bank", "smartwatch", "webcam", "mechanical keyboard", "wifi router"],
                    ["10000 mah", "4k", "65 w", "2 m", "noise cancelling", "with microphone", "dual band"]),
    "kitchen": (["espresso maker", "chef knife", "frying pan", "cutting board", "kettle", "blender",
                 "measuring cups", "salad spinner", "rice cooker", "spice rack"],
                ["1.2 l", "stainless steel", "non-stick", "28 cm", "bamboo", "cast iron", "set of 4"]),
    "garden": (["garden hose", "pruning shears", "watering can", "plant pots", "lawn rake", "seed tray",
                "hedge trimmer", "compost bin", "bird feeder", "solar lights"],
               ["15 m", "terracotta", "5 l", "galvanised", "pack of 6", "weatherproof", "for balcony"]),
    "clothing": (["running shoes", "rain jacket", "wool socks", "denim jeans", "cotton t-shirt", "hoodie",
                  "winter gloves", "swim shorts", "linen shirt", "beanie"],
                 ["size m", "waterproof", "slim fit", "pack of 3", "merino", "size 42", "unisex"]),
}
PER_CATEGORY = 120


def main():
    rng = random.Random(20261205)
    rows = []
    for category, (nouns, details) in CATEGORIES.items():
        for _ in range(PER_CATEGORY):
            words = [rng.choice(BRANDS)]
            if rng.random() < 0.7:
                words.append(rng.choice(SHARED))
            words.append(rng.choice(nouns))
            if rng.random() < 0.6:
                words.append(rng.choice(details))
            rows.append((" ".join(words), category))
    rng.shuffle(rows)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "product_titles.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["title", "category"])
        w.writerows(rows)


if __name__ == "__main__":
    main()
