"""scripts/edge-settings.py: BENCH_SERVER_ARGS applied to a case's edge.toml."""
import importlib.util
import pathlib
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
        out = es.apply(CASE, ["wait_gather_us=0", 'region="a\\b/c&d"'])
        self.assertIn("wait_gather_us = 0\n", out)
        self.assertIn('region = "a\\b/c&d"\n', out)
        self.assertIn("shards = 0", out)

    def test_settings_it_cannot_apply_are_refused(self):
        for bad in ["shards", "shards=", "=1", "sha/rds=1", "a.b=1", "listen=\"127.0.0.1:1\"",
                    "data_dir=\"x\""]:
            with self.assertRaises(ValueError, msg=bad):
                es.apply(CASE, [bad])
        with self.assertRaises(ValueError):
            es.apply("[lake]\n", ["shards=1"])


if __name__ == "__main__":
    unittest.main()
