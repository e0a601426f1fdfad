"""The data pipeline as lists of small steps: a new filter, with its own settings table, is one module and one line
in the extract stage's list; the annotate stage's steps are a list too; the order of the extract filters, site
boilerplate removal included, is written in that list alone."""

import dataclasses
import subprocess
import sys
import textwrap

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from axk1.data.config import FilterConfig, config_from_dict
from axk1.data.filter_entry import FilterEntry


class EarlyStep(BaseFilter):
    name = "early"

    def filter(self, doc: Document) -> bool:
        return True


def test_a_filter_with_its_own_table_is_its_module_and_one_list_line(tmp_path):
    """The module declares its settings dataclass and its entry; appended to EXTRACT_FILTERS, `[filters.marker]`
    is accepted with that dataclass's defaults and checks, and the step is built from it. Nothing else is edited."""
    (tmp_path / "marker_filter.py").write_text(textwrap.dedent('''
        from dataclasses import dataclass
        from datatrove.pipeline.filters.base_filter import BaseFilter
        from axk1.data.filter_entry import FilterEntry

        @dataclass
        class MarkerConfig:
            word: str = "MARKER"
            enabled: bool = True

        class MarkerFilter(BaseFilter):
            name = "marker"
            def __init__(self, cfg, exclusion_writer=None):
                super().__init__(exclusion_writer)
                self.cfg = cfg
            def filter(self, doc):
                return (False, "has_marker") if self.cfg.word in doc.text else True

        MARKER_STEP = FilterEntry(lambda cfg, excl: MarkerFilter(cfg, excl("marker")) if cfg.enabled else None,
                                  table="marker", config=MarkerConfig)
        '''))
    script = textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from axk1.data import filter_steps
        from marker_filter import MARKER_STEP
        filter_steps.EXTRACT_FILTERS.append(MARKER_STEP)  # the one line a new filter adds
        from axk1.data.config import config_from_dict
        from axk1.data.pipeline import build_stages
        base = {{"sources": [{{"type": "jsonl", "path": "x"}}], "run": {{"stages": ["extract"]}}}}
        def steps(marker):
            cfg = config_from_dict({{**base, "filters": {{"marker": marker}}}})
            return cfg, build_stages(cfg)[0].steps
        cfg, built = steps({{"word": "ZZZ"}})
        marker = [s for s in built if type(s).__name__ == "MarkerFilter"]
        assert len(marker) == 1 and marker[0].cfg.word == "ZZZ", built
        assert type(built[-2]).__name__ == "MarkerFilter"  # last of the filters, before clean/'s writer
        assert cfg.filters.quality.min_words == 50  # the other tables as they were
        assert "MarkerFilter" not in [type(s).__name__ for s in steps({{"enabled": False}})[1]]
        assert config_from_dict(base).filters.marker.word == "MARKER"
        try:
            steps({{"wrod": "x"}})
        except ValueError as e:
            assert "filters.marker: unknown key 'wrod'" in str(e), e
        else:
            raise AssertionError("a misspelt key of the new table was accepted")
        print("ok")
        ''')
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


def test_the_filters_section_keeps_its_keys():
    """Made from the list, [filters] still has the keys pipeline files write, each table with its dataclass."""
    fields = {f.name: f.type for f in dataclasses.fields(FilterConfig)}
    assert set(fields) == {"languages", "min_language_score", "korean_hangul_ratio", "pii", "site_boilerplate",
                           "korean_signals", "quality", "code", "url", "perplexity", "decontamination"}
    assert type(FilterConfig().quality).__name__ == "QualityConfig" and FilterConfig().code.min_chars == 20


def _boilerplate_stages(pii: bool = True):
    from axk1.data.pipeline import build_stages

    cfg = config_from_dict({"sources": [{"type": "html", "path": "x"}], "run": {"stages": ["extract"]},
                            "filters": {"pii": pii}})
    return {s.name: [type(step).__name__ for step in s.steps] for s in build_stages(cfg)}


def test_the_steps_before_site_boilerplate_removal_come_from_the_list(monkeypatch):
    """Which filters run before the pages are written and counted is the list's mark, not a type the pipeline
    picks out: a marked entry leading the list runs there, ahead of PII, and in no later stage."""
    from axk1.data.filter_steps import EXTRACT_FILTERS

    default = _boilerplate_stages()
    assert default["extract"] == ["SourceReader", "KoreanPIIScrubber", "JsonlWriter"]
    assert "KoreanPIIScrubber" not in default["filter"] and default["filter"][:2] == ["_StageReader", "SiteBoilerplate"]
    assert _boilerplate_stages(pii=False)["extract"] == ["SourceReader", "JsonlWriter"]

    monkeypatch.setattr("axk1.data.filter_steps.EXTRACT_FILTERS",
                        [FilterEntry(lambda f, excl: EarlyStep(), before_site_boilerplate=True), *EXTRACT_FILTERS])
    stages = _boilerplate_stages()
    assert stages["extract"] == ["SourceReader", "EarlyStep", "KoreanPIIScrubber", "JsonlWriter"]
    assert stages["filter"] == default["filter"]


def test_an_annotate_step_is_one_list_entry(monkeypatch, tmp_path):
    from axk1.data.annotate_steps import ANNOTATE_STEPS
    from axk1.data.pipeline import build_stages

    cfg = config_from_dict({"run": {"output_dir": str(tmp_path), "stages": ["annotate"]},
                            "annotate": {"domain_model": "m.npz"}})
    (tmp_path / "clean").mkdir()
    steps = next(s for s in build_stages(cfg) if s.name == "annotate").steps
    names = [type(s).__name__ for s in steps]
    assert names[-4:] == ["DomainAnnotator", "DifficultyAnnotator", "DisorderedTextFilter", "JsonlWriter"]
    assert steps[-4].model_path.endswith("m.npz")  # its [annotate] setting reaches it
    assert str(steps[-2].exclusion_writer.output_folder.path).endswith("excluded/disordered")

    seen = []
    monkeypatch.setattr("axk1.data.annotate_steps.ANNOTATE_STEPS",
                        [*ANNOTATE_STEPS, lambda annotate, excl: seen.append(annotate) or EarlyStep(excl("early"))])
    steps = next(s for s in build_stages(cfg) if s.name == "annotate").steps
    assert [type(s).__name__ for s in steps][-3:] == ["DisorderedTextFilter", "EarlyStep", "JsonlWriter"]
    assert seen == [cfg.annotate]
