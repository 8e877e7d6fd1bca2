"""The shipped sample answers the questions the project was started for, with verbatim quotes."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import QuestionError
from retrieval.analyze import WORD, query_terms, tokens
from retrieval.render import render_answer

SAMPLE_QUESTIONS = [
    ("who claimed Iran is supplying drones?", "the United States has claimed"),
    ("how many drones will Iran give Russia?", "up to several hundred"),
    ("when will the training start?", "early July"),
    ("where did Iran open a drone factory?", "Iran opens drone factory in Tajikistan"),
    ("which countries gave Ukraine drones?", "drones from the US, Turkiye and the UK"),
]


@pytest.mark.parametrize("engine", ["tantivy", "rank-bm25"])
@pytest.mark.parametrize(("question", "expected"), SAMPLE_QUESTIONS)
def test_sample_questions_quote_the_right_sentence_first(sample_desk, engine, question, expected):
    from retrieval import Desk

    desk = sample_desk if engine == "tantivy" else Desk(sample_desk.db_path, engine=engine)
    answer = desk.ask(question)
    assert answer.quotes, f"no answer to {question!r}"
    first = answer.quotes[0]
    assert expected in first.text
    article = desk.article(first.article_id)
    assert article.text[first.start : first.end] == first.text
    assert first.title == "Iran to supply Russia with drones for war in Ukraine, US claims"
    assert first.publisher == "Middle East Monitor"
    assert first.published == "2022-07-13"
    assert first.url.startswith("https://www.middleeastmonitor.com/")
    assert answer.searched_articles == 1


def test_who_question_quotes_the_claim_and_whoever_made_it(sample_desk):
    text = sample_desk.ask("who claimed Iran is supplying drones?").quotes[0].text
    assert "United States" in text or "Jake Sullivan" in text
    assert "claimed" in text


def test_unanswerable_question_gets_no_quote(sample_desk):
    answer = sample_desk.ask("what is the capital of Peru?")
    assert answer.quotes == ()
    assert answer.searched_articles == 1
    assert answer.to_dict()["quotes"] == []


def test_question_about_an_unmentioned_name_gets_no_quote(sample_desk):
    assert sample_desk.ask("Where did Iran open a drone factory in Venezuela?").quotes == ()


@pytest.mark.parametrize("engine", ["tantivy", "rank-bm25"])
def test_a_name_only_another_servers_articles_mention_is_still_missing(sample_desk, engine):
    from retrieval import Article, Desk

    sample_desk.ingest([Article(title="Caracas", text="Venezuela held talks on oil prices.")],
                       collection="guild:2")
    desk = sample_desk if engine == "tantivy" else Desk(sample_desk.db_path, engine=engine)
    question = "Where did Iran open a drone factory in Venezuela?"
    assert desk.ask(question, collections=["global", "guild:1"]).quotes == ()
    assert desk.ask(question, collections=["global", "guild:2"]).quotes  # the name is there


@pytest.mark.parametrize(
    "question",
    ['"Iran" drones', "drone*", "(Iran OR Russia) AND drones", "NEAR(Iran drones)",
     "title:Iran", "drones -Iran", "Iran^10 drones~2", "'; DROP TABLE articles; --",
     "[UAVs]", "{Iran}", "Iran\\ drones", "C++ drones?", "Iran && drones || !Russia"],
)
def test_search_syntax_is_just_text(sample_desk, question):
    answer = sample_desk.ask(question)
    for q in answer.quotes:
        assert sample_desk.article(q.article_id).text[q.start : q.end] == q.text
    assert sample_desk.stats().articles == 1


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "empty"), ("   \n\t ", "empty"), ("what is the?", "only common words"),
     ("who are they and what did they do?", "only common words"), ("x" * 2000, "too long")],
)
def test_questions_that_cannot_be_searched_say_why(sample_desk, question, message):
    with pytest.raises(QuestionError, match=message):
        sample_desk.ask(question)


def test_analyzer_stems_and_drops_question_words():
    terms = query_terms("Who claimed Iran is supplying drones?")
    assert terms == ["claim", "iran", "suppli", "drone"]
    assert query_terms("How many UAVs?") == ["uav"]


def test_the_index_drops_lucenes_stop_words_but_keeps_question_words():
    """Stop words are never searched, so the index leaves them out; words that only shape a
    question ("who", "many") are words of the text like any other."""
    terms = tokens("The drones of Iran, and who sent them")
    assert terms == ["drone", "iran", "who", "sent", "them"]
    assert tokens("Many said it was the UAVs") == ["mani", "said", "uav"]


def test_answer_json_schema(sample_desk):
    d = sample_desk.ask("who claimed Iran is supplying drones?", k=2).to_dict()
    assert set(d) == {"question", "quotes", "searched", "took_ms"}
    assert set(d["searched"]) == {"articles", "passages"}
    assert set(d["quotes"][0]) == {
        "text", "title", "publisher", "author", "published", "url", "article_id", "start", "end",
        "score", "matched_terms", "also",
    }
    assert "claimed" in d["quotes"][0]["matched_terms"]
    assert d["quotes"][0]["also"] == []


STORY = ("Iran will supply hundreds of drones to Russia, the United States has claimed. "
         "The drones could be delivered within weeks, officials said.")


def test_a_syndicated_copy_is_listed_with_the_quote_not_quoted_again(desk):
    """Wire copies differ by a dateline, quote marks or case: one quote, the copies under it."""
    from retrieval import Article

    copies = [
        Article(title="Iran to arm Russia", text=STORY, url="https://a.example/1",
                publisher="Alpha News", published="2022-07-13"),
        Article(title="US: Iran to send drones", text="WASHINGTON (Reuters) - " + STORY.replace(
            "United States", "united states"), url="https://b.example/1", publisher="Beta Wire"),
        Article(title="Drones for Russia", text="KYIV — " + STORY.replace(",", " ,"),
                url="https://c.example/1", publisher="Gamma Post"),
        Article(title="No drones after all", text="Iran will not supply hundreds of drones to "
                "Russia, the United States has claimed. Officials said so.", publisher="Delta"),
    ]
    desk.ingest(copies)
    answer = desk.ask("Who claimed Iran will supply drones to Russia?", k=5)
    first = answer.quotes[0]
    assert first.text.endswith("the United States has claimed.")
    others = [first.publisher, *(c.publisher for c in first.also)]
    assert sorted(others) == ["Alpha News", "Beta Wire", "Gamma Post"]
    words = " ".join(WORD.findall(first.text.lower()))
    for c in first.also:  # each copy does carry the sentence, give or take case and commas
        assert words in " ".join(WORD.findall(desk.article(c.article_id).text.lower()))
    assert "Delta" in [q.publisher for q in answer.quotes[1:]]  # "will not" is another claim
    assert answer.to_dict()["quotes"][0]["also"][0]["url"].startswith("https://")
    printed = render_answer(answer)  # what `newsdesk ask` prints
    assert f"also in {', '.join(c.publisher for c in first.also)}" in printed


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Iran will supply drones, he said.", "IRAN will supply drones , he said", True),
        ("LONDON: Officials said the talks had ended.", "Officials said the talks had ended.",
         True),
        ("Iran will supply drones to Russia.", "Iran will not supply drones to Russia.", False),
        ("The deal - worth $5bn - was signed.", "worth 5bn was signed", False),
        ("Pro-Russian forces advanced on Monday.", "Russian forces advanced on Monday.", False),
        ("KYIV (AP) — Officials confirmed the unusually-long-named-programme-of-drone-deliveries"
         "-was-going-ahead.", "Officials confirmed the unusually long named programme of drone "
         "deliveries was going ahead", True),
        ("They named it the Extraordinarilylongcompoundwordthatgoesonandonandonforeverandmore.",
         "THEY NAMED IT THE EXTRAORDINARILYLONGCOMPOUNDWORDTHATGOESONANDONANDONFOREVERANDMORE",
         True),
    ],
)
def test_copies_of_a_sentence(a, b, same):
    from retrieval.answer import _keys, _tail

    assert bool(_keys(a) & _keys(b)) is same
    if same:  # choose() compares only sentences whose last words agree
        assert _tail(a) == _tail(b)


def test_quotes_per_article_are_capped(sample_desk):
    assert len(sample_desk.ask("Iran drones Russia", k=3).quotes) == 2  # the default cap
    assert len(sample_desk.ask("Iran drones Russia", k=3, per_article=1).quotes) == 1
    many = sample_desk.ask("Iran drones Russia", k=3, per_article=3)
    assert len(many.quotes) == 3
    assert len({(q.start, q.end) for q in many.quotes}) == 3
    page2 = sample_desk.ask("Iran drones Russia", k=3, per_article=5, offset=3)
    assert not {(q.start, q.end) for q in page2.quotes} & {(q.start, q.end) for q in many.quotes}


def _candidates(*scores: tuple[int, float]):
    from retrieval.answer import Candidate

    out = []
    for i, (article, score) in enumerate(scores):
        text, start = f"Sentence number {i} says something else entirely.", 100 * i
        row = {"text": text, "start": start}
        out.append(Candidate(article, start, start + len(text), score, (), row, start))
    return out


@pytest.mark.parametrize(
    ("scores", "kwargs", "order"),
    [
        # A second sentence of article 1 comes after another source's unless clearly better.
        ([(1, 1.0), (1, 0.9), (2, 0.8)], {}, [(1, 1.0), (2, 0.8), (1, 0.9)]),
        ([(1, 1.0), (1, 0.95), (2, 0.6)], {}, [(1, 1.0), (1, 0.95), (2, 0.6)]),
        ([(1, 1.0), (1, 0.9), (1, 0.85), (2, 0.5)], {}, [(1, 1.0), (1, 0.9), (2, 0.5)]),
        ([(1, 1.0), (1, 0.9), (2, 0.8)], {"per_article": 1}, [(1, 1.0), (2, 0.8)]),
        ([(1, 1.0), (1, 0.9), (2, 0.8)], {"repeat_penalty": 0.0},
         [(1, 1.0), (1, 0.9), (2, 0.8)]),
    ],
)
def test_a_second_quote_from_one_article_must_beat_the_other_sources(scores, kwargs, order):
    from retrieval.answer import choose

    chosen = choose(_candidates(*scores), **kwargs)
    assert [(c.article_id, c.score) for c, _ in chosen] == order


def test_quotes_after_accents_emoji_and_astral_characters_are_verbatim(desk):
    from retrieval import Article

    lead = "Café owners in Zürich 🇺🇦 said “nothing” about it. 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ça va. " * 12
    text = lead + "Officials claimed Iran is supplying drones to Russia. The end."
    desk.ingest([Article(title="Ünïcode", text=text, url="https://example.com/u")])
    (quote,) = desk.ask("who claimed Iran is supplying drones?").quotes
    article = desk.article(quote.article_id)
    assert quote.text == "Officials claimed Iran is supplying drones to Russia."
    assert article.text[quote.start : quote.end] == quote.text


def test_passages_stored_before_sentence_offsets_are_split_when_asked(sample_desk):
    question = "who claimed Iran is supplying drones?"
    packed = sample_desk.ask(question, k=3, per_article=3).quotes
    with sample_desk.store.write():
        sample_desk.store.db.execute("update passages set sentences = null")
    assert sample_desk.ask(question, k=3, per_article=3).quotes == packed


def test_match_share_is_the_best_score_over_the_question_idf_of_words_the_articles_have():
    from retrieval.answer import idf, match_share

    dfs = {"drone": 10, "iran": 100, "gave": 0}  # no article says "gave": left out
    total = idf(1000, 10) + idf(1000, 100)
    assert match_share(total / 2, 1000, dfs) == pytest.approx(0.5)
    assert match_share(1.0, 1000, {"gave": 0}) == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "Iranian drones: Iran's supplies. Misupplied, SUPPLIERS of drone-parts.",
        "İstanbul said Iranian drones: Iran's supplies. Misupplied, SUPPLIERS of drone-parts.",
    ],
    ids=["ascii", "lowercasing-changes-length"],
)
def test_question_terms_are_found_only_as_whole_words_of_any_case(text):
    from retrieval.answer import _Matcher

    matcher = _Matcher({"iran", "suppli", "drone"})
    found = [(text[s:e], term) for s, e, term, _ in matcher.matches(text)]
    assert found == [
        ("Iranian", "iran"),
        ("drones", "drone"),
        ("Iran", "iran"),
        ("supplies", "suppli"),
        ("SUPPLIERS", "suppli"),
        ("drone", "drone"),
    ]


_WORDS = ["Iran", "Iranian", "drones", "drone", "supplies", "SUPPLIERS", "Russia", "Russian",
          "the", "said", "it", "war", "Ukraine", "sent", "He"]


@settings(max_examples=200, deadline=None)
@given(
    passages=st.lists(
        st.lists(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=8), min_size=1,
                 max_size=4),
        min_size=1, max_size=4,
    ),
    title=st.lists(st.sampled_from(_WORDS), max_size=3),
)
def test_skipping_passages_that_cannot_cover_enough_changes_no_quote(passages, title):
    """``score_sentences`` skips a passage whose words cannot cover the threshold; the quotes
    must be the same as when every passage is matched word by word."""
    from retrieval import answer
    from retrieval.passages import sentences

    question = "Did Iran supply drones to Russia for the war?"
    terms = query_terms(question)
    weight = answer.weights(1000, {"iran": 40, "suppli": 200, "drone": 30, "russia": 90,
                                   "war": 300})
    rows, start = [], 0
    for n, passage in enumerate(passages):
        text = " ".join(" ".join(words) + "." for words in passage)
        rows.append(({"article_id": n % 2, "start": start, "title": " ".join(title),
                      "text": text, "sentences": None}, 10.0 - n))
        start += len(text) + 1
        assert sentences(text)

    def key(found):
        return [(c.article_id, c.start, c.end, c.score, c.matched) for c in found]

    skipping = key(answer.score_sentences(question, terms, weight, rows))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(answer._Matcher, "reach", lambda *args: float("inf"))
        matching_all = key(answer.score_sentences(question, terms, weight, rows))
    assert skipping == matching_all


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("when", "Training starts in EARLY JULY.", 1.0),
        ("when", "Training starts at the base.", 0.0),
        ("number", "Up to SEVERAL HUNDRED drones.", 1.0),
        ("number", "Up to Two drones.", 0.5),
        ("number", "Some drones.", 0.0),
        ("who", "The drones, Jake Sullivan TOLD reporters.", 1.0),
        ("who", "the drones, he told reporters.", 0.0),
    ],
)
def test_what_the_question_asks_for_is_found_in_any_case(kind, text, expected):
    from retrieval.answer import fit

    assert fit(kind, text) == expected


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("who claimed Iran is supplying drones?", "who"),
        ("Who said the talks had failed?", "who"),
        ("who won Super Bowl 50?", None),  # any sentence naming the winner will do
        ("how many drones will Iran give Russia?", "number"),
        ("when will the training start?", "when"),
        ("Russia bought how many drones from Iran?", "number"),  # said anywhere in it
        ("In what year did Iran first supply drones?", "when"),
        ("The factory is scheduled to open when?", "when"),
        ("What happened when the drones arrived?", None),  # "when" here asks no date
        ("where did Iran open a drone factory?", "where"),
        ("which countries gave Ukraine drones?", "names"),
        ("what is the capital of Peru?", None),
    ],
)
def test_question_type(question, kind):
    from retrieval.answer import question_type

    assert question_type(question) == kind


def test_asking_for_more_quotes_than_candidate_passages_searches_more_of_them(desk):
    """Quotes come from the best few passages; asking for more quotes than that takes in as
    many passages as quotes asked for, and paging keeps to the passages the first page saw."""
    from retrieval import Article
    from retrieval.desk import CANDIDATE_PASSAGES

    n = CANDIDATE_PASSAGES + 4
    desk.ingest([
        Article(title=f"Harbour report {i}", publisher="Coast Times",
                text=f"The lighthouse at pier {i} was repainted blue in spring. Gulls stayed away.")
        for i in range(n)
    ])
    question = "which lighthouse was repainted blue?"
    assert len(desk.ask(question, k=n).quotes) == n
    first, second = desk.ask(question, k=3), desk.ask(question, k=3, offset=3)
    shown = [q.article_id for q in first.quotes + second.quotes]
    assert len(shown) == 6 and len(set(shown)) == 6 and first.more
    assert len(desk.ask(question, k=3, offset=CANDIDATE_PASSAGES).quotes) == 0


def test_a_sentence_that_leans_on_the_one_before_is_quoted_with_it(desk):
    """"He said ..." matches through the sentence before, which names the subject: the quote
    holds both, verbatim, so that it shows what matched; alone it would answer nothing."""
    from retrieval import Article

    text = ("The weather was mild in the capital on Tuesday. Iran's foreign minister visited "
            "Moscow this week. He said drones would be supplied within a month. Talks went on.")
    desk.ingest([Article(title="Talks", text=text, publisher="Alpha News")])
    first = desk.ask("Did Iran's foreign minister say drones would be supplied?").quotes[0]
    assert first.text == ("Iran's foreign minister visited Moscow this week. He said drones "
                          "would be supplied within a month.")
    assert desk.article(first.article_id).text[first.start : first.end] == first.text


def test_overlapping_quotes_of_one_article_are_never_shown_twice():
    from retrieval.answer import Candidate, choose

    text = "First sentence here. Second sentence here. Third one."
    row = {"text": text, "start": 0}
    spans = [(0, 20), (21, 42), (43, 53)]
    # The second sentence quoted with the first (best), then the first alone, then the third
    # quoted with the second: the first is dropped, the third falls back to itself alone.
    cands = [
        Candidate(1, 0, 42, 1.0, (), row, 21),
        Candidate(1, 0, 20, 0.9, (), row, 0),
        Candidate(1, 21, 53, 0.8, (), row, 43),
    ]
    chosen = choose(cands, per_article=3, repeat_penalty=0.0)
    assert [(c.start, c.end) for c, _ in chosen] == [(0, 42), spans[2]]
    assert [c.text for c, _ in chosen] == [text[:42], "Third one."]


def test_a_long_sentence_before_is_not_added_to_the_quote(desk):
    from retrieval import Article

    # 985 characters: the two sentences together are over MAX_QUOTE
    long = "Iran's foreign minister, " + "who spoke at length, " * 45 + "visited Moscow."
    desk.ingest([Article(title="Talks", text=long + " He said drones would be supplied soon.")])
    first = desk.ask("Did Iran's foreign minister say drones would be supplied?").quotes[0]
    assert first.text == "He said drones would be supplied soon."
