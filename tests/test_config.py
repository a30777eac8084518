"""Session configuration from TOML: paths, providers, threads, passes, profiling, and every mistake."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import ronn
from ronn_core import Pass
from ronn_core.errors import ConfigError, ConfigValueError, UnknownConfigKeyError

from ronn_tests import add_relu_expected, make_plugin


@pytest.fixture
def project(tmp_path, add_relu_bytes):
    """A folder ``proj/`` with ``models/add_relu.onnx``; ``write(toml)`` adds ``proj/session.toml``."""
    root = tmp_path / "proj"
    (root / "models").mkdir(parents=True)
    (root / "models" / "add_relu.onnx").write_bytes(add_relu_bytes)

    def write(text: str):
        path = root / "session.toml"
        path.write_text(textwrap.dedent(text))
        return path

    write.root = root
    return write


def test_relative_model_path_resolves_against_the_config_folder(project, tmp_path, monkeypatch,
                                                                 x_batch2):
    path = project('model = "models/add_relu.onnx"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    session = ronn.Session.from_config(path)

    np.testing.assert_allclose(session.run({"x": x_batch2})["y"], add_relu_expected(x_batch2))
    assert ronn.load_config(path).model == project.root / "models" / "add_relu.onnx"


def test_absolute_model_path_is_kept(project, add_relu_path):
    path = project(f'model = "{add_relu_path}"\n')
    assert ronn.load_config(path).model == add_relu_path


def test_defaults_are_level_o3_on_cpu_without_profiling(project):
    config = ronn.load_config(project('model = "models/add_relu.onnx"\n'))
    assert config.optimization_level == "O3"
    assert config.providers == [("cpu", {})]
    assert config.threads is None and config.profiling is False
    assert config.enable_passes == [] and config.disable_passes == []


def test_providers_as_a_list_of_names(project):
    path = project('model = "models/add_relu.onnx"\nproviders = ["CPUExecutionProvider"]\n')
    config = ronn.load_config(path)
    assert config.providers == [("CPUExecutionProvider", {})]
    assert ronn.Session.from_config(path).provider_names == ["cpu"]


def test_providers_as_tables_with_options(project):
    path = project('''
        model = "models/add_relu.onnx"
        [[providers]]
        name = "fast"
        options = { block = 64 }
        [[providers]]
        name = "cpu"
    ''')
    assert ronn.load_config(path).providers == [("fast", {"block": 64}), ("cpu", {})]


def test_provider_options_from_the_config_reach_the_provider(project):
    """An option the cpu provider does not have is refused, so options are really passed on."""
    path = project('''
        model = "models/add_relu.onnx"
        [[providers]]
        name = "cpu"
        options = { fast_math = true }
    ''')
    with pytest.raises(ConfigValueError, match="provider 'cpu' has no option 'fast_math'"):
        ronn.Session.from_config(path)


def test_threads_and_optimization_level_reach_the_session(project, x_batch2):
    path = project('model = "models/add_relu.onnx"\nthreads = 1\noptimization_level = "O1"\n')
    session = ronn.Session.from_config(path)
    assert session.threads == 1 and session.optimization_level == "O1"
    np.testing.assert_allclose(session.run({"x": x_batch2})["y"], add_relu_expected(x_batch2))


def test_overrides_given_to_from_config_win(project):
    path = project('model = "models/add_relu.onnx"\noptimization_level = "O1"\n')
    assert ronn.Session.from_config(path, optimization_level="O0").optimization_level == "O0"


class _Marker(Pass):
    name = "marker"
    level = "O3"

    def run(self, graph, ctx):
        return False


class _Other(Pass):
    name = "other"
    level = "O1"

    def run(self, graph, ctx):
        return False


def test_passes_enable_and_disable_reach_the_session(project, make_runtime):
    runtime = make_runtime(make_plugin(
        "cfg_passes", ronn_passes=lambda register: register(_Marker(), _Other())))
    path = project('''
        model = "models/add_relu.onnx"
        optimization_level = "O1"
        [passes]
        enable = ["marker"]
        disable = ["other"]
    ''')
    config = ronn.load_config(path)
    assert (config.enable_passes, config.disable_passes) == (["marker"], ["other"])

    session = config.create_session(runtime=runtime)

    assert [r.name for r in session.pass_log] == ["marker"]


def test_profiling_table_turns_profiling_on_and_resolves_its_output(project, x_batch2):
    path = project('''
        model = "models/add_relu.onnx"
        [profiling]
        enabled = true
        output = "out/trace.json"
    ''')
    config = ronn.load_config(path)
    assert config.profiling is True
    assert config.profile_output == project.root / "out" / "trace.json"

    session = config.create_session()
    session.run({"x": x_batch2})
    assert session.profile().runs == 1


def test_profiling_may_be_a_plain_boolean(project):
    assert ronn.load_config(project('model = "m.onnx"\nprofiling = true\n')).profiling is True


def test_modules_tables_are_passed_through(project):
    path = project('model = "m.onnx"\n[modules.memory]\ncapacity = 8\n')
    assert ronn.load_config(path).modules == {"memory": {"capacity": 8}}


# -- unknown keys -----------------------------------------------------------------------------


@pytest.mark.parametrize("text, section, bad, nearest", [
    ('optimisation_level = "O2"\n', "the top level", "optimisation_level", "optimization_level"),
    ('thread = 2\n', "the top level", "thread", "threads"),
    ('[passes]\nenabled = ["x"]\n', r"\[passes\]", "enabled", "enable"),
    ('[profiling]\nouptut = "t.json"\n', r"\[profiling\]", "ouptut", "output"),
    ('[[providers]]\nname = "cpu"\noption = {}\n', r"providers\[0\]", "option", "options"),
])
def test_unknown_key_names_the_section_and_the_nearest_valid_key(project, text, section, bad,
                                                                 nearest):
    path = project('model = "m.onnx"\n' + text)
    with pytest.raises(UnknownConfigKeyError,
                       match=f"unknown key '{bad}' in {section}; did you mean '{nearest}'\\?"):
        ronn.load_config(path)


def test_unknown_key_message_is_not_quoted_like_a_key_error(project):
    with pytest.raises(UnknownConfigKeyError) as info:
        ronn.load_config(project('model = "m.onnx"\nbogus = 1\n'))
    assert str(info.value).startswith(str(project.root / "session.toml"))
    assert isinstance(info.value, KeyError) and isinstance(info.value, ConfigError)


# -- bad values -------------------------------------------------------------------------------


@pytest.mark.parametrize("line, expected", [
    ('optimization_level = "O5"', r"optimization_level = 'O5' is not allowed; expected one of "
                                  r"O0, O1, O2, O3"),
    ("threads = 0", r"threads = 0 is not allowed; expected a positive integer"),
    ('threads = "two"', r"threads = 'two' is not allowed; expected a positive integer"),
    ("threads = true", r"threads = True is not allowed"),
    ('providers = "cpu"', r"providers = 'cpu' is not allowed; expected a non-empty list"),
    ("providers = []", r"providers = \[\] is not allowed"),
    ("providers = [1]", r"providers\[0\] = 1 is not allowed"),
    ('profiling = "yes"', r"profiling = 'yes' is not allowed; expected true, false or a table"),
    ('passes = ["cse"]', r"passes = \['cse'\] is not allowed; expected a table"),
    ("model = 3", r"model = 3 is not allowed; expected a str"),
])
def test_bad_value_names_key_value_and_what_is_allowed(project, line, expected):
    text = line + "\n" if line.startswith("model") else 'model = "m.onnx"\n' + line + "\n"
    with pytest.raises(ConfigValueError, match=expected):
        ronn.load_config(project(text))


def test_bad_pass_list_names_the_key(project):
    with pytest.raises(ConfigValueError, match=r"passes.disable = 'cse' is not allowed; expected "
                                               r"a list of pass names"):
        ronn.load_config(project('model = "m.onnx"\n[passes]\ndisable = "cse"\n'))


def test_provider_table_without_a_name_is_refused(project):
    with pytest.raises(ConfigValueError, match=r"providers\[0\] needs name"):
        ronn.load_config(project('model = "m.onnx"\n[[providers]]\noptions = {}\n'))


def test_missing_model_key_is_refused(project):
    with pytest.raises(ConfigValueError, match="'model' is required"):
        ronn.load_config(project("threads = 2\n"))


def test_unknown_pass_in_config_fails_when_the_session_is_built(project):
    path = project('model = "models/add_relu.onnx"\n[passes]\ndisable = ["no_such_pass"]\n')
    with pytest.raises(ConfigValueError, match="no pass named 'no_such_pass'"):
        ronn.Session.from_config(path)


# -- unreadable files -------------------------------------------------------------------------


def test_invalid_toml_is_a_config_error_naming_the_file(project):
    path = project('model = "m.onnx\n')
    with pytest.raises(ConfigError, match=r"session\.toml: not valid TOML"):
        ronn.load_config(path)


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"config file '.*nope\.toml' does not exist"):
        ronn.load_config(tmp_path / "nope.toml")


def test_binary_file_given_as_config_is_a_config_error(project):
    """Passing the .onnx model instead of the .toml is an easy slip; it must not be a raw
    UnicodeDecodeError."""
    with pytest.raises(ConfigError):
        ronn.load_config(project.root / "models" / "add_relu.onnx")


def test_folder_given_as_config_is_a_config_error(project):
    with pytest.raises(ConfigError):
        ronn.load_config(project.root)


def test_session_base_dir_is_the_config_folder_else_the_model_folder(project, tmp_path,
                                                                    monkeypatch):
    path = project('model = "models/add_relu.onnx"\n')
    monkeypatch.chdir(tmp_path)
    assert ronn.Session.from_config(path).base_dir == project.root
    model = ronn.Model.load(project.root / "models" / "add_relu.onnx")
    assert model.create_session().base_dir == project.root / "models"
    assert ronn.Model.load((project.root / "models" / "add_relu.onnx").read_bytes()) \
        .create_session().base_dir == tmp_path
