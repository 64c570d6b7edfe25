# ruff: noqa: RUF001  (Japanese copy uses full-width punctuation on purpose)
"""Product copy without an AI provider (seed 002's copy JSON), from the analysis and the
preferences: a different text per field, each within its channel's limit and sized by
``targetLength``, SEO terms in the seed's ranges (5-7 primary keywords, 10-15 long-tail keywords,
10-15 hashtags), in English or Japanese (other languages get English).

It is a draft and says so: ``OFFLINE_NOTE`` goes into ``content.json`` and the long-form fields
(e-commerce medium/long, the social posts) start with a short marker; the short ones (headline,
ads) have no room for it. Deterministic: the imager derives the same headline for its offline
creatives without waiting for the reporter's branch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .products import LIMITS, ProductAnalysis, ProductCopy, ProductPreferences, trim_words

OFFLINE_NOTE = (
    "Offline draft: set an AI provider (OPENAI_API_KEY or ANTHROPIC_API_KEY) for real copy."
)
MARKER = {"en": "[Offline draft] ", "ja": "【オフライン下書き】"}
# Characters aimed at per targetLength, for the fields whose limit is generous.
BUDGET: dict[str, dict[str, int]] = {
    "ecDescription.short": {"short": 80, "medium": 120, "long": 150},
    "ecDescription.medium": {"short": 220, "medium": 380, "long": 500},
    "ecDescription.long": {"short": 480, "medium": 750, "long": 1000},
    "socialMedia.facebook": {"short": 220, "medium": 450, "long": 900},
    "socialMedia.instagram": {"short": 220, "medium": 420, "long": 800},
    "socialMedia.linkedin": {"short": 260, "medium": 550, "long": 1100},
}
GENERIC = {"", "unknown", "product", "general", "none", "n/a", "other"}

JA_WORDS = {
    "product": "商品", "beverage": "ドリンク", "drink": "ドリンク", "energy": "エナジー",
    "canned": "缶", "can": "缶", "bottle": "ボトル", "cosmetics": "コスメ",
    "skincare": "スキンケア",
    "food": "フード", "snack": "スナック", "coffee": "コーヒー", "tea": "お茶", "mug": "マグ",
    "bag": "バッグ", "shoe": "シューズ", "shoes": "シューズ", "watch": "時計", "box": "ボックス",
    "modern": "モダン", "minimal": "ミニマル", "minimalist": "ミニマル", "clean": "クリーン",
    "bold": "大胆", "vibrant": "鮮やか", "premium": "プレミアム", "dark": "ダーク",
    "energetic": "エネルギッシュ", "calm": "穏やか", "sophisticated": "洗練された",
    "dynamic": "ダイナミック", "elegant": "エレガント", "vintage": "ヴィンテージ",
    "natural": "ナチュラル", "playful": "遊び心のある", "refined": "上品",
    "trustworthy": "信頼できる", "confident": "自信に満ちた", "matte": "マット",
    "glossy": "つや", "black": "ブラック", "white": "ホワイト", "grey": "グレー",
    "red": "レッド", "blue": "ブルー", "navy": "ネイビー", "green": "グリーン",
    "yellow": "イエロー", "orange": "オレンジ", "pink": "ピンク", "purple": "パープル",
    "brown": "ブラウン", "beige": "ベージュ", "cream": "クリーム", "ivory": "アイボリー",
    "gold": "ゴールド", "silver": "シルバー", "teal": "ティール", "coral": "コーラル",
    "students": "学生", "professionals": "社会人", "young": "若い", "athletes": "アスリート",
    "families": "ご家族", "parents": "子育て世代", "general": "みなさま", "deep": "ディープ",
    "light": "ライト", "slim": "スリム", "geometric": "幾何学", "patterns": "模様",
    "gradient": "グラデーション", "effects": "", "sky": "スカイ", "forest": "フォレスト",
    "off": "オフ", "charcoal": "チャコール", "sand": "サンド", "tan": "タン", "mint": "ミント",
    "sage": "セージ", "olive": "オリーブ", "lime": "ライム", "turquoise": "ターコイズ",
    "lavender": "ラベンダー", "magenta": "マゼンタ", "rose": "ローズ", "blush": "ブラッシュ",
    "crimson": "クリムゾン", "maroon": "マルーン", "burgundy": "バーガンディ", "amber": "アンバー",
    "mustard": "マスタード", "lemon": "レモン", "indigo": "インディゴ", "royal": "ロイヤル",
    "chocolate": "チョコレート", "light-grey": "ライトグレー", "everyday": "毎日",
}  # fmt: skip


def _words(slug: str) -> str:
    return " ".join(slug.replace("_", "-").replace("-", " ").split())


def _ja(slug: str, sep: str = "") -> str:
    """A slug in Japanese where the small dictionary knows its words, else as is."""
    words = _words(slug).split()
    if not words:
        return ""
    if all(w.lower() in JA_WORDS for w in words):
        return sep.join(JA_WORDS[w.lower()] for w in words if JA_WORDS[w.lower()])
    return _words(slug)


def _ja_dot(slug: str) -> str:
    return _ja(slug, "・")


def _specific(*values: str) -> str:
    return next((v for v in values if v and v.strip().lower() not in GENERIC), "")


def _unique(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        key = item.strip().lower()
        if key and key not in seen:
            seen.add(key)
            out.append(item.strip())
    return out


def _camel(text: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[\s\-_/]+", text) if w)


@dataclass(frozen=True)
class Facts:
    """The analysis, in words."""

    noun: str  # what it is ("canned drink")
    category: str
    style: str
    mood: str
    colours: list[str]
    audience: str
    personality: list[str]
    finish: str
    packaging: str
    elements: list[str]


def facts(a: ProductAnalysis, lang: str) -> Facts:
    tr = _ja if lang == "ja" else _words
    tr_dot = _ja_dot if lang == "ja" else _words
    noun = _specific(a.product.type, a.product.subcategory, a.product.category)
    category = _specific(a.product.category, a.product.subcategory)
    audience = [d for d in a.branding.targetAudience.demographics if d.lower() not in GENERIC]
    return Facts(
        noun=tr(noun) if noun else ("商品" if lang == "ja" else "product"),
        category=tr(category),
        style=tr_dot(a.visual.style) if a.visual.style.lower() not in GENERIC else "",
        mood=tr_dot(a.visual.mood) if a.visual.mood.lower() not in GENERIC else "",
        colours=_unique(tr(c.name) for c in a.visual.dominantColors[:3]),
        audience=tr(audience[0]) if audience else "",
        personality=_unique(tr(p) for p in a.branding.personality if p.lower() not in GENERIC),
        finish=tr(a.features.finish) if a.features.finish.lower() not in GENERIC else "",
        packaging=tr(a.features.packaging) if a.features.packaging.lower() not in GENERIC else "",
        elements=[tr(e) for e in a.features.uniqueElements if e.lower() not in GENERIC][:3],
    )


def _a(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _and(items: list[str], lang: str) -> str:
    if lang == "ja":
        return "・".join(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _take(sentences: list[str], budget: int, limit: int, lang: str) -> str:
    """Whole sentences while they fit the budget (at least the first, trimmed to the limit)."""
    sep = "" if lang == "ja" else " "
    out = ""
    for s in sentences:
        candidate = (out + sep + s) if out else s
        if len(candidate) > min(budget, limit):
            break
        out = candidate
    return out or _trim(sentences[0], limit, lang)


def _trim(text: str, limit: int, lang: str) -> str:
    if len(text) <= limit:
        return text
    if lang == "ja":
        cut = text[:limit]
        stop = max(cut.rfind("。"), cut.rfind("！"))
        return cut[: stop + 1] if stop > limit // 2 else cut[: limit - 1] + "…"
    return trim_words(text, limit)


def _first_fitting(options: list[str], limit: int, lang: str) -> str:
    return next((o for o in options if o and len(o) <= limit), _trim(options[-1], limit, lang))


# ---- English ------------------------------------------------------------------------------

EN_OPENERS = {
    "professional": "Meet the {style}{noun}",
    "casual": "Say hello to your new {style}{noun}",
    "playful": "Guess who just arrived? The {style}{noun}",
}
EN_CTA = {
    "professional": "Order today.",
    "casual": "Grab yours today.",
    "playful": "Go on, treat yourself!",
}


def _english(f: Facts, prefs: ProductPreferences) -> dict[str, str]:
    tone = prefs.tone
    style = f"{f.style} " if f.style else ""
    colours = _and(f.colours, "en")
    who = f.audience or "everyday life"
    people = f.audience or "people"
    mood = f.mood or "good"
    traits = _and(f.personality[:2], "en") or "thoughtful"
    opener = EN_OPENERS[tone].format(style=style, noun=f.noun)
    detail = []
    if colours:
        detail.append(f"Its {colours} palette catches the eye on any shelf or screen.")
    if f.finish or f.packaging:
        detail.append(
            "A "
            + " ".join(
                x
                for x in (
                    f.finish,
                    "finish" if f.finish else "",
                    "and",
                    f.packaging,
                    "packaging" if f.packaging else "",
                )
                if x
            )
            .strip()
            .removesuffix(" and")
            .removeprefix("and ")
            + " that feels as good as it looks."
        )
    if f.elements:
        detail.append(f"Details like {_and(f.elements, 'en')} make it unmistakable.")
    story = [
        f"{opener}: {traits} by design and made for {who}.",
        *detail,
        f"It brings {_a(mood)} {mood} feel to the moments that matter.",
        "Designed for people who care about how things look and work.",
        "Every detail was chosen to make it easy to use and easy to love.",
        "It fits into your routine from the very first day.",
        f"Whether it is for you or a gift, the {f.noun} is a choice you will be glad you made.",
        EN_CTA[tone],
    ]
    short = [
        f"The {style}{f.noun}: {traits}, {mood} and made for {who}." if mood not in traits else "",
        f"The {style}{f.noun}: {traits} and made for {who}.",
        f"The {style}{f.noun} for {who}.",
        f"The {style}{f.noun}.",
    ]
    facebook = [
        f"{'🎉 ' if tone == 'playful' else ''}New: the {style}{f.noun}!",
        f"We made it for {people} who want something {traits} without the fuss.",
        *detail,
        "What would you use it for first? Tell us in the comments.",
        EN_CTA[tone],
    ]
    instagram = [
        f"✨ {style}{f.noun}, {mood} mood ✨",
        *(f"• {d}" for d in detail),
        f"Made for {who}. 💛",
        "Tap the link in bio to see it up close. 👆",
    ]
    linkedin = [
        f"We are pleased to introduce the {style}{f.noun}.",
        f"It was designed for {people}, around a character that is {traits}.",
        *detail,
        "We would welcome conversations with retail and distribution partners.",
        "Get in touch to learn more about availability and volume pricing.",
    ]
    name = f"{f.style.title()} {f.noun.title()}".strip()
    headline = _first_fitting(
        [name, f"New {f.noun.title()}", f.noun.title()], LIMITS["adCopy.googleAdsHeadline"], "en"
    )
    description = _first_fitting(
        [
            f"{f.style.capitalize() or 'The'} {f.noun} for {who}. {traits.capitalize()} design. "
            + EN_CTA[tone],
            f"The {f.noun} for {who}. {EN_CTA[tone]}",
            f"The {f.noun} for {who}.",
        ],
        LIMITS["adCopy.googleAdsDescription"],
        "en",
    )
    fb_ad = _first_fitting(
        [
            f"Looking for {_a(traits)} {traits} {f.noun}? This {mood} {style}design was made for"
            f" {who}. " + EN_CTA[tone],
            f"A {style}{f.noun} made for {who}. {EN_CTA[tone]}",
            f"A {style}{f.noun} made for {who}.",
        ],
        LIMITS["adCopy.facebookAd"],
        "en",
    )
    return {
        "ecDescription.short": _first_fitting(
            short, BUDGET["ecDescription.short"][prefs.targetLength], "en"
        ),
        "ecDescription.medium": _take([story[0], *detail, story[-2], EN_CTA[tone]], 500, 500, "en"),
        "ecDescription.long": " ".join(story),
        "socialMedia.facebook": " ".join(facebook),
        "socialMedia.instagram": "\n".join(instagram),
        "socialMedia.linkedin": " ".join(linkedin),
        "adCopy.googleAdsHeadline": headline,
        "adCopy.googleAdsDescription": description,
        "adCopy.facebookAd": fb_ad,
    }


# ---- Japanese -----------------------------------------------------------------------------

JA_CTA = {
    "professional": "ご注文はこちらから。",
    "casual": "ぜひチェックしてみてください。",
    "playful": "今すぐゲットしよう！",
}


def _japanese(f: Facts, prefs: ProductPreferences) -> dict[str, str]:
    tone = prefs.tone
    style = f"{f.style}な" if f.style else ""
    colours = _and(f.colours, "ja")
    who = f"{f.audience}" if f.audience else "毎日を大切にする方"
    mood = f.mood or "心地よい"
    traits = _and(f.personality[:2], "ja") or "こだわり"
    detail = []
    if colours:
        detail.append(f"{colours}の配色が、店頭でも画面でも目を引きます。")
    if f.finish:
        detail.append(f"{f.finish}な仕上げで、手に取るたびに質感を楽しめます。")
    if f.packaging:
        detail.append(f"パッケージは{f.packaging}。持ち運びにも便利です。")
    if f.elements:
        detail.append(f"{_and(f.elements, 'ja')}などのディテールが個性を引き立てます。")
    opener = {
        "professional": f"{style}{f.noun}のご紹介です。",
        "casual": f"新しい{style}{f.noun}が登場しました。",
        "playful": f"お待たせしました！{style}{f.noun}の登場です！",
    }[tone]
    story = [
        opener,
        f"{who}のために、「{traits}」をテーマにデザインしました。",
        *detail,
        f"{mood}な雰囲気が、毎日のひとときを特別にします。",
        "使いやすさと見た目の美しさ、どちらにも妥協していません。",
        "自分へのご褒美にも、大切な方への贈り物にもおすすめです。",
        "初めての方にも安心してお使いいただけます。",
        JA_CTA[tone],
    ]
    short = [
        f"{style}{f.noun}。{who}のための「{traits}」なデザインで、{mood}な毎日を。",
        f"{style}{f.noun}。{who}のための「{traits}」なデザイン。",
        f"{style}{f.noun}、登場。",
    ]
    facebook = [
        f"{'🎉' if tone == 'playful' else ''}新登場：{style}{f.noun}",
        f"{who}に向けて、「{traits}」を大切に作りました。",
        *detail,
        "あなたならどんなシーンで使いますか？コメントで教えてください。",
        JA_CTA[tone],
    ]
    instagram = [
        f"✨{style}{f.noun}✨",
        *(f"・{d}" for d in detail),
        f"{who}へ 💛",
        "詳しくはプロフィールのリンクから👆",
    ]
    linkedin = [
        f"このたび、{style}{f.noun}を発表いたしました。",
        f"{who}を対象に、「{traits}」を軸として開発した商品です。",
        *detail,
        "販売・流通パートナーの皆さまからのお問い合わせをお待ちしております。",
        "取り扱い条件や価格については、お気軽にご連絡ください。",
    ]
    headline = _first_fitting(
        [f"{style}{f.noun}", f"新しい{f.noun}", f.noun], LIMITS["adCopy.googleAdsHeadline"], "ja"
    )
    description = _first_fitting(
        [
            f"{who}のための{style}{f.noun}。「{traits}」なデザイン。{JA_CTA[tone]}",
            f"{style}{f.noun}。{JA_CTA[tone]}",
        ],
        LIMITS["adCopy.googleAdsDescription"],
        "ja",
    )
    fb_ad = _first_fitting(
        [
            f"「{traits}」な{f.noun}をお探しですか？{mood}な雰囲気の{style}デザインを{who}に。"
            + JA_CTA[tone],
            f"{style}{f.noun}を{who}に。{JA_CTA[tone]}",
        ],
        LIMITS["adCopy.facebookAd"],
        "ja",
    )
    return {
        "ecDescription.short": _first_fitting(
            short, BUDGET["ecDescription.short"][prefs.targetLength], "ja"
        ),
        "ecDescription.medium": _take([story[0], story[1], *detail, JA_CTA[tone]], 500, 500, "ja"),
        "ecDescription.long": "".join(story),
        "socialMedia.facebook": "\n".join(facebook),
        "socialMedia.instagram": "\n".join(instagram),
        "socialMedia.linkedin": "".join(linkedin),
        "adCopy.googleAdsHeadline": headline,
        "adCopy.googleAdsDescription": description,
        "adCopy.facebookAd": fb_ad,
    }


# ---- SEO ----------------------------------------------------------------------------------


def _seo(f: Facts, a: ProductAnalysis, lang: str) -> dict[str, list[str]]:
    noun, style, who = f.noun, f.style, f.audience
    colour = f.colours[0] if f.colours else ""
    if lang == "ja":
        primary = _unique(
            [
                noun,
                f"{style}{noun}" if style else "",
                f"{colour}{noun}" if colour else "",
                f.category,
                f"{noun} おすすめ",
                f"{noun} ギフト",
                f"{noun} 通販",
                f"{noun} 人気",
            ]
        )
        long_tail = _unique(
            [
                f"{who}向け {noun}" if who else "",
                f"{style} {noun} おすすめ" if style else "",
                f"{colour} {noun} 人気" if colour else "",
                f"{noun} プレゼント 喜ばれる",
                f"{noun} 選び方",
                f"{noun} 通販 送料無料",
                f"{noun} ランキング",
                f"{f.finish} {noun}" if f.finish else "",
                f"{noun} 新作",
                f"{noun} 口コミ",
                f"{noun} 比較",
                f"{noun} おしゃれ",
            ]
        )
        tags = _unique(
            [
                noun,
                f"{style}{noun}" if style else "",
                style,
                colour,
                f.category,
                who,
                *f.personality,
                "新商品",
                "おすすめ",
                "ギフト",
                "プレゼント",
                "おしゃれ",
                "暮らし",
                "New Arrival",
                "Shopping",
            ]
        )
    else:
        primary = _unique(
            [
                noun,
                f"{style} {noun}".strip(),
                f"{colour} {noun}" if colour else "",
                f.category,
                f"{noun} for {who}" if who else "",
                f"best {noun}",
                f"buy {noun} online",
                f"{noun} gift",
            ]
        )
        long_tail = _unique(
            [
                f"best {style} {noun} for {who}" if who else f"best {style} {noun}",
                f"{colour} {style} {noun}" if colour else "",
                f"where to buy {noun} online",
                f"{noun} gift ideas for {who}" if who else f"{noun} gift ideas",
                f"{f.finish} {noun} with modern design" if f.finish else "",
                f"{noun} with {f.packaging} packaging" if f.packaging else "",
                f"affordable {style} {noun}",
                f"{noun} reviews and ratings",
                f"new {noun} {a.visual.mood.replace('-', ' ')}",
                f"how to choose a {noun}",
                f"{noun} for everyday use",
                f"{noun} free shipping",
                f"top rated {noun}",
            ]
        )
        tags = _unique(
            [
                noun,
                f"{style} {noun}" if style else "",
                style,
                colour,
                f.category,
                who,
                *f.personality,
                f.mood,
                "new arrival",
                "shop now",
                "design",
                "gift ideas",
                "must have",
                "product design",
                "shop small",
            ]
        )
    hashtags = ["#" + _camel(t) for t in tags if _camel(t)]
    return {
        "primaryKeywords": [k for k in primary if k][:7],
        "longTailKeywords": [k for k in long_tail if k][:15],
        "hashtags": _unique(hashtags)[:15],
    }


def draft_copy(analysis: ProductAnalysis, prefs: ProductPreferences) -> ProductCopy:
    lang = "ja" if prefs.language.lower().startswith("ja") else "en"
    f = facts(analysis, lang)
    fields = (_japanese if lang == "ja" else _english)(f, prefs)
    marker = MARKER[lang]
    data: dict[str, dict[str, object]] = {"ecDescription": {}, "socialMedia": {}, "adCopy": {}}
    for path, text in fields.items():
        group, name = path.split(".")
        limit = LIMITS[path]
        if path in BUDGET:
            room = path != "ecDescription.short"  # the headline-like field gets no marker
            budget = min(BUDGET[path][prefs.targetLength], limit) - (len(marker) if room else 0)
            if "\n" in text:
                body = _take_lines(text.split("\n"), budget) or _trim(text, budget, lang)
            else:
                parts = [p for p in re.split(r"(?<=[.!?。！？])\s*", text) if p.strip()]
                body = _take(parts, budget, budget, lang)
            text = marker + body if room else body
        data[group][name] = _trim(text, limit, lang)
    data["seo"] = _seo(f, analysis, lang)  # type: ignore[assignment]
    return ProductCopy.model_validate(data)


def _take_lines(lines: list[str], budget: int) -> str:
    out = ""
    for line in lines:
        candidate = f"{out}\n{line}" if out else line
        if len(candidate) > budget:
            break
        out = candidate
    return out


def creative_headline(analysis: ProductAnalysis, prefs: ProductPreferences) -> tuple[str, str]:
    """(headline, subline) for offline creatives when the copy is not written yet: the same
    text the offline copy uses (its ad headline and short description)."""
    copy = draft_copy(analysis, prefs)
    return copy.adCopy.googleAdsHeadline, copy.ecDescription.short
