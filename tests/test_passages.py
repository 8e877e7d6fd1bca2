from retrieval.passages import chunk, pack, passages, sentences, unpack


def split(text):
    return [text[s:e] for s, e in sentences(text)]


def test_sentences_keep_abbreviations_initials_and_numbers_together():
    text = (
        "Mr. Smith went to the U.S. Army base at 9.30 a.m. on Monday. He said “no.” "
        "Then J. R. R. Tolkien sold 3.5 million books! Really? yes, really."
    )
    assert split(text) == [
        "Mr. Smith went to the U.S. Army base at 9.30 a.m. on Monday.",
        "He said “no.”",
        "Then J. R. R. Tolkien sold 3.5 million books!",
        "Really? yes, really.",
    ]


def test_headline_lines_and_paragraphs_are_sentences():
    text = "First claim was made.\nREAD: Iran opens drone factory in Tajikistan\nNext one.\n\nLast"
    assert split(text) == [
        "First claim was made.",
        "READ: Iran opens drone factory in Tajikistan",
        "Next one.",
        "Last",
    ]


def test_hard_wrapped_wire_copy_is_not_split_at_line_ends():
    text = (
        "Showers continued throughout the week in\nthe Bahia cocoa zone, alleviating the drought "
        "since early\nJanuary and improving prospects,\nComissaria Smith said.\n    The dry period "
        "means the temporao will be\nlate this year.\n    Arrivals were 155,221 bags\nof 60 kilos."
    )
    assert split(text) == [
        "Showers continued throughout the week in\nthe Bahia cocoa zone, alleviating the drought "
        "since early\nJanuary and improving prospects,\nComissaria Smith said.",
        "The dry period means the temporao will be\nlate this year.",
        "Arrivals were 155,221 bags\nof 60 kilos.",
    ]


def test_hard_wrapped_copy_still_splits_at_blank_lines_and_closing_quotes():
    # Hard-wrapped text has its own boundary pattern (line breaks only count when blank).
    text = (
        "A table of results follows\nwith no full stop at all\nin it\n  \nNEW YORK - "
        "He said\nthe deal \"was done?!\" Then\nhe left.\n\nEnd"
    )
    assert split(text) == [
        "A table of results follows\nwith no full stop at all\nin it",
        "NEW YORK - He said\nthe deal \"was done?!\"",
        "Then\nhe left.",
        "End",
    ]


def test_overlong_sentences_are_cut_at_spaces():
    text = "word " * 1000
    spans = sentences(text)
    assert len(spans) > 1
    assert all(e - s <= 1000 for s, e in spans)
    assert all(not text[s].isspace() and not text[e - 1].isspace() for s, e in spans)


def test_passages_are_overlapping_windows_of_whole_sentences():
    text = " ".join(f"Sentence number {i} is here." for i in range(7))
    got = [text[s:e] for s, e in passages(text, size=3, overlap=1)]
    assert got == [
        "Sentence number 0 is here. Sentence number 1 is here. Sentence number 2 is here.",
        "Sentence number 2 is here. Sentence number 3 is here. Sentence number 4 is here.",
        "Sentence number 4 is here. Sentence number 5 is here. Sentence number 6 is here.",
    ]


def test_passages_respect_max_chars_but_keep_at_least_one_sentence():
    text = "A short one. " + "Long " * 300 + "end. Tail."
    spans = passages(text, max_chars=200)
    assert [text[s:e] for s, e in spans][0] == "A short one."
    assert all(text[s:e] == text[s:e].strip() for s, e in spans)


def test_empty_text_has_no_passages():
    assert passages("") == []
    assert passages("   \n\n ") == []


def test_chunk_stores_each_passages_sentences_relative_to_its_start():
    text = "Iran will supply drones. Russia asked for them! Was it true?\n\nThe US said so. " * 5
    chunks = chunk(text)
    assert [(s, e) for s, e, _ in chunks] == passages(text)
    spans = sentences(text)
    for start, end, packed in chunks:
        inside = [(s, e) for s, e in spans if start <= s and e <= end]
        assert [(start + s, start + e) for s, e in unpack(packed)] == inside


def test_pack_refuses_offsets_beyond_16_bits():
    assert unpack(pack([(0, 5), (7, 65535)], 0)) == [(0, 5), (7, 65535)]
    assert pack([(0, 65536)], 0) is None
    assert pack([], 0) is None


def test_sentence_edges_trimming_cutting_and_initials():
    # Leading space is trimmed, an overlong sentence after a short one is cut, a single
    # non-ASCII capital is a word (not an initial), "No." is an abbreviation.
    long = "Word " + "word " * 249 + "end."
    text = "  First one.  " + long + " Then É. Zola wrote No. 5 twice. Last"
    got = split(text)
    assert got[0] == "First one."
    assert all(len(s) <= 1000 for s in got) and "".join(got[1:-3]).replace(" ", "") == (
        long.replace(" ", "")
    )
    assert got[-3:] == ["Then É.", "Zola wrote No. 5 twice.", "Last"]
