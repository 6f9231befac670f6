"""Seeded relational tables for the llm_sql problem, and the prefix-reuse measure.

Each table imitates a workload of the LLM-SQL study (per-row LLM queries over a table): a few
low-cardinality columns, entity columns whose long descriptions follow from them (functional
dependencies), high-cardinality ids and long unique free text. Values are strings made of
seeded pseudo-words, so the data is the same on every machine.
"""

import bisect
import random

TRAIN_SEED = 7
HELDOUT_SEED = 7007

_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ren",
    "tor",
    "sa",
    "vel",
    "qui",
    "dan",
    "mor",
    "pe",
    "lin",
    "zu",
    "ar",
    "bel",
    "cor",
    "fi",
    "gan",
    "hu",
    "jas",
    "nor",
    "os",
    "pra",
    "sil",
    "tem",
    "ur",
]


class _Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)

    def word(self):
        return "".join(self.rng.choice(_SYLLABLES) for _ in range(self.rng.randint(1, 3)))

    def words(self, lo, hi):
        return " ".join(self.word() for _ in range(self.rng.randint(lo, hi)))

    def pool(self, n, lo, hi):
        return [self.words(lo, hi) for _ in range(n)]

    def zipf_pick(self, items, s=1.1):
        weights = [1.0 / (k + 1) ** s for k in range(len(items))]
        return self.rng.choices(items, weights=weights)[0]


def _movies(g, n_rows):
    movies = [
        (
            g.words(1, 4).title(),
            g.words(25, 45),
            g.rng.choice(["Drama", "Comedy", "Action", "Horror", "Documentary", "Animation", "Thriller", "Romance"]),
            str(g.rng.randint(1950, 2024)),
        )
        for _ in range(80)
    ]
    critics = [(g.words(2, 2).title(), g.words(1, 3).title()) for _ in range(150)]
    publishers = sorted({c[1] for c in critics})
    critics = [(name, g.rng.choice(publishers[:40])) for name, _ in critics]
    rows = []
    for _ in range(n_rows):
        title, info, genre, year = g.zipf_pick(movies, 0.8)
        critic, publisher = g.zipf_pick(critics, 0.6)
        rows.append(
            [
                title,
                info,
                genre,
                year,
                critic,
                publisher,
                g.rng.choice(["Fresh", "Rotten"]),
                f"{g.rng.randint(1, 10)}/10",
                g.words(15, 40),
            ]
        )
    cols = [
        "movie_title",
        "movie_info",
        "genre",
        "year",
        "critic_name",
        "publisher_name",
        "review_type",
        "review_score",
        "review_content",
    ]
    return cols, rows


def _products(g, n_rows):
    categories = [g.words(1, 2).title() for _ in range(15)]
    products = [
        (
            f"B0{g.rng.randint(10**7, 10**8 - 1)}",
            g.words(3, 8).title(),
            g.rng.choice(categories),
            g.words(20, 50),
            f"{g.rng.randint(5, 500)}.{g.rng.randint(0, 99):02d}",
        )
        for _ in range(200)
    ]
    users = [f"U{g.rng.randint(10**9, 10**10 - 1)}" for _ in range(600)]
    rows = []
    for _ in range(n_rows):
        pid, title, cat, desc, price = g.zipf_pick(products, 0.9)
        rows.append(
            [
                pid,
                title,
                cat,
                desc,
                price,
                g.rng.choice(users),
                str(g.rng.randint(1, 5)),
                g.words(2, 6),
                g.words(10, 35),
                g.rng.choice(["true", "false"]),
            ]
        )
    cols = [
        "product_id",
        "product_title",
        "category",
        "description",
        "price",
        "user_id",
        "rating",
        "review_title",
        "review_text",
        "verified_purchase",
    ]
    return cols, rows


def _beer(g, n_rows):
    styles = [(g.words(1, 3).title(), g.words(10, 20)) for _ in range(20)]
    breweries = [(g.words(1, 3).title() + " Brewing", g.words(1, 2).title()) for _ in range(30)]
    beers = []
    for _ in range(100):
        style, style_desc = g.rng.choice(styles)
        brewery, city = g.rng.choice(breweries)
        beers.append((g.words(1, 3).title(), brewery, city, style, style_desc, f"{g.rng.uniform(3.5, 12):.1f}"))
    reviewers = [g.word() + str(g.rng.randint(1, 999)) for _ in range(300)]
    rows = []
    for _ in range(n_rows):
        name, brewery, city, style, sdesc, abv = g.zipf_pick(beers, 1.0)
        scores = [f"{g.rng.randint(2, 10) / 2:.1f}" for _ in range(4)]
        rows.append([name, brewery, city, style, sdesc, abv, g.rng.choice(reviewers), *scores, g.words(20, 45)])
    cols = [
        "beer_name",
        "brewery",
        "brewery_city",
        "style",
        "style_description",
        "abv",
        "reviewer",
        "appearance",
        "aroma",
        "palate",
        "taste",
        "review_text",
    ]
    return cols, rows


def _logs(g, n_rows):
    services = [g.word() + "-svc" for _ in range(8)]
    hosts = [(f"node-{g.rng.randint(100, 999)}", g.rng.choice(services)) for _ in range(40)]
    templates = [(f"E{k:03d}", g.words(8, 25)) for k in range(30)]
    rows = []
    for _ in range(n_rows):
        host, service = g.zipf_pick(hosts, 0.5)
        code, template = g.zipf_pick(templates, 1.2)
        level = g.rng.choices(["INFO", "WARN", "ERROR", "DEBUG"], [60, 20, 10, 10])[0]
        rows.append(
            [
                service,
                host,
                level,
                code,
                template,
                f"req-{g.rng.getrandbits(48):012x}",
                f"{g.rng.randint(1, 5000)}ms",
                g.rng.choice(["eu", "us", "ap"]),
            ]
        )
    cols = ["service", "host", "level", "event_code", "event_template", "request_id", "latency", "zone"]
    return cols, rows


_SCHEMAS = [("movies", _movies, 1500), ("products", _products, 1000), ("beer", _beer, 800), ("logs", _logs, 2000)]


def make_tables(seed):
    """[{'name', 'columns': [str], 'rows': [[str]]}]; the column order is a shuffled schema order."""
    tables = []
    for k, (name, build, n_rows) in enumerate(_SCHEMAS):
        g = _Gen(seed * 100 + k)
        cols, rows = build(g, n_rows)
        perm = list(range(len(cols)))
        g.rng.shuffle(perm)
        g.rng.shuffle(rows)
        tables.append(
            {"name": name, "columns": [cols[i] for i in perm], "rows": [[row[i] for i in perm] for row in rows]}
        )
    return tables


def serialise(columns, row, field_order):
    return "".join(f"{columns[j]}: {row[j]}\n" for j in field_order)


def _lcp(a, b):
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo


def prefix_hits(strings):
    """For each string, the longest prefix it shares with any earlier string (sorted neighbours)."""
    seen, hits = [], []
    for s in strings:
        pos = bisect.bisect_left(seen, s)
        best = 0
        if pos > 0:
            best = _lcp(s, seen[pos - 1])
        if pos < len(seen):
            best = max(best, _lcp(s, seen[pos]))
        hits.append(best)
        seen.insert(pos, s)
    return hits
