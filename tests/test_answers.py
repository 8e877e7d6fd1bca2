"""The shipped sample answers the questions the project was started for, with verbatim quotes."""

import pytest

from retrieval import QuestionError
from retrieval.analyze import query_terms

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


def test_answer_json_schema(sample_desk):
    d = sample_desk.ask("who claimed Iran is supplying drones?", k=2).to_dict()
    assert set(d) == {"question", "quotes", "searched", "took_ms"}
    assert set(d["searched"]) == {"articles", "passages"}
    assert set(d["quotes"][0]) == {
        "text", "title", "publisher", "author", "published", "url", "article_id", "start", "end",
        "score", "matched_terms",
    }
    assert "claimed" in d["quotes"][0]["matched_terms"]


def test_one_quote_per_article_unless_asked(sample_desk):
    assert len(sample_desk.ask("Iran drones Russia", k=3).quotes) == 1
    many = sample_desk.ask("Iran drones Russia", k=3, per_article=3)
    assert len(many.quotes) == 3
    assert len({(q.start, q.end) for q in many.quotes}) == 3
    page2 = sample_desk.ask("Iran drones Russia", k=3, per_article=5, offset=3)
    assert not {(q.start, q.end) for q in page2.quotes} & {(q.start, q.end) for q in many.quotes}


def test_passages_stored_before_sentence_offsets_are_split_when_asked(sample_desk):
    question = "who claimed Iran is supplying drones?"
    packed = sample_desk.ask(question, k=3, per_article=3).quotes
    with sample_desk.store.write():
        sample_desk.store.db.execute("update passages set sentences = null")
    assert sample_desk.ask(question, k=3, per_article=3).quotes == packed
