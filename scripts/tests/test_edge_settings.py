"""scripts/edge-settings.py: BENCH_SERVER_ARGS applied to a case's edge.toml."""
import importlib.util
import pathlib
import subprocess
import sys
import tempfile
import unittest

_spec = importlib.util.spec_from_file_location(
    "edge_settings", pathlib.Path(__file__).resolve().parent.parent / "edge-settings.py")
es = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(es)

CASE = """# a case
[edge]
id = "e"
listen = "127.0.0.1:7460"
shards = 0                      # 0 = one shard per online core
  shards_per_x = 3
commit_interval_ms = 2

[edge.sub]
shards = 9

[lake]
shards = 7
"""


class Apply(unittest.TestCase):
    def test_a_key_the_case_sets_is_replaced_in_edge_only(self):
        out = es.apply(CASE, ["shards=1"])
        self.assertEqual(out.count("shards = 1"), 1)
        self.assertNotIn("shards = 0", out)
        # A key it is a prefix of, and the same key in other sections, stay.
        self.assertIn("  shards_per_x = 3", out)
        self.assertIn("[edge.sub]\nshards = 9", out)
        self.assertIn("[lake]\nshards = 7", out)
        self.assertTrue(out.startswith("# a case\n[edge]\nshards = 1\nid = \"e\""))

    def test_an_indented_or_spaced_line_of_the_key_is_replaced_too(self):
        out = es.apply("[edge]\n  shards\t= 0\n", ["shards=2"])
        self.assertEqual(out, "[edge]\nshards = 2\n")

    def test_a_new_key_is_added_and_values_are_written_as_given(self):
        # Written as given (the edge judges the value), with what a sed replacement would act
        # on: a TOML escape, a slash, an ampersand.
        out = es.apply(CASE, ["wait_gather_us=0", 'public_url="https://e.example/a\\b/c&d"'])
        self.assertIn("wait_gather_us = 0\n", out)
        self.assertIn('public_url = "https://e.example/a\\b/c&d"\n', out)
        self.assertIn("shards = 0", out)

    def test_the_last_of_a_repeated_key_wins(self):
        out = es.apply(CASE, ["shards=1", "shards=2"])
        self.assertIn("shards = 2", out)
        self.assertNotIn("shards = 1", out)

    def test_headers_with_comments_and_array_tables_bound_the_section(self):
        text = "[edge]   # main\nshards = 0\n[[tenant]]\nshards = 5\n"
        out = es.apply(text, ["shards=1"])
        self.assertEqual(out, "[edge]   # main\nshards = 1\n[[tenant]]\nshards = 5\n")
        # A multi-line array's lines with a comma do not end the section; its last element,
        # which reads as a header, is refused rather than set twice.
        text = "[edge]\npeers = [\n  [\"a\"],\n  \"b\",\n]\nshards = 0\n"
        self.assertNotIn("shards = 0", es.apply(text, ["shards=1"]))
        text = "[edge]\npeers = [\n  [\"a\"],\n  [\"b\"]\n]\nshards = 0\n"
        with self.assertRaises(ValueError):
            es.apply(text, ["shards=1"])

    def test_settings_it_cannot_apply_are_refused(self):
        for bad in ["shards", "shards=", "=1", "sha/rds=1", "a.b=1", "listen=\"127.0.0.1:1\"",
                    "data_dir=\"x\"", "region=unquoted"]:
            with self.assertRaises(ValueError, msg=bad):
                es.apply(CASE, [bad])
        with self.assertRaises(ValueError):
            es.apply("[lake]\n", ["shards=1"])
        # A line of the key inside a multi-line string is not the key: the result is checked.
        with self.assertRaises(ValueError):
            es.apply('[edge]\nnote = """\nshards = 3\n"""\n', ["shards=1"])

    def test_a_case_file_that_does_not_parse_is_named_as_the_cause(self):
        for settings in ([], ["shards=1"]):
            with self.assertRaisesRegex(ValueError, "the case's edge.toml does not parse"):
                es.apply('[edge]\nid = "e\n', settings)


class Main(unittest.TestCase):
    def run_on(self, text, *settings):
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(text)
        script = pathlib.Path(es.__file__)
        r = subprocess.run([sys.executable, str(script), f.name, *settings],
                           capture_output=True, text=True)
        out = pathlib.Path(f.name).read_text()
        pathlib.Path(f.name).unlink()
        return r, out

    def test_a_refused_setting_exits_1_and_leaves_the_file(self):
        r, out = self.run_on(CASE, "shards=1", "listen=1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("edge-settings: ", r.stderr)
        self.assertIn("listen cannot be set here", r.stderr)
        self.assertEqual(out, CASE)

    def test_main_writes_only_when_a_setting_changes_the_file(self):
        r, out = self.run_on(CASE)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(out, CASE)
        r, out = self.run_on(CASE, "shards=1")
        self.assertEqual(r.returncode, 0)
        self.assertIn("shards = 1", out)


if __name__ == "__main__":
    unittest.main()
