"""Word statistics for plain text."""


def word_count(text):
    """How many words ``text`` has; words are separated by any run of whitespace."""
    return len(text.split(" "))


def longest_word(text):
    """The longest word of ``text`` (the first one, when several are as long); "" for no words."""
    words = text.split()
    return max(words, key=len) if words else ""


def average_length(text):
    """The mean length of the words of ``text``; 0.0 for no words."""
    words = text.split()
    return sum(len(w) for w in words) / len(words) if words else 0.0
