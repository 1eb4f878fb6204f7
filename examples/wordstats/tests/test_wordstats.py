import unittest

from wordstats import average_length, longest_word, word_count


class TestWordStats(unittest.TestCase):
    def test_word_count(self):
        self.assertEqual(word_count("one two three"), 3)

    def test_word_count_ignores_extra_spaces(self):
        self.assertEqual(word_count("hello  world\n"), 2)

    def test_longest_word(self):
        self.assertEqual(longest_word("a quick brownish fox"), "brownish")

    def test_average_length(self):
        self.assertEqual(average_length("ab abcd"), 3.0)


if __name__ == "__main__":
    unittest.main()
