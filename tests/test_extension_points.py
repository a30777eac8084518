"""Bench suites from plugins (``ronn bench --suite``) and learning modules (``Session.learn``)."""

import numpy as np
import onnx
import pytest
from onnx import helper as h

import ronn
from ronn.cli import main
from ronn_core import BenchSuite, Runtime, SessionModule, hookimpl
from ronn_core.errors import ConfigValueError, RonnError
from ronn_core.session import Session


class Doubler(SessionModule):
    name = "doubler"

    def learn(self, feeds, label):
        return label * 2


class Passive(SessionModule):
    name = "passive"


class Plugin:
    @staticmethod
    @hookimpl
    def ronn_modules(register):
        register(Doubler, Passive)

    @staticmethod
    @hookimpl
    def ronn_bench_suites(register):
        register(BenchSuite("toy", "rows per size", lambda threads, runs, quick:
                            [{"size": n, "ratio": n / 2} for n in ((1,) if quick else (1, 2))]))


def relu_model() -> bytes:
    g = h.make_graph([h.make_node("Relu", ["x"], ["y"])], "g",
                     [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
                     [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])])
    m = h.make_model(g)
    m.ir_version = 8
    return m.SerializeToString()


def runtime() -> Runtime:
    import ronn_cpu.plugin
    import ronn_opset_onnx.plugin
    return Runtime(plugins=[Plugin, ronn_opset_onnx.plugin, ronn_cpu.plugin], discover=False)


def test_learn_reaches_only_modules_that_learn():
    rt = runtime()
    s = Session(ronn.Model.load(relu_model()).graph, runtime=rt,
                modules={"passive": {}, "doubler": {}})
    assert s.learn({"x": np.ones(2, np.float32)}, 21) == {"doubler": 42}
    assert s.module("doubler").name == "doubler"
    with pytest.raises(ConfigValueError, match="not enabled"):
        s.module("cascade")


def test_learn_without_a_learning_module_is_an_error():
    s = Session(ronn.Model.load(relu_model()).graph, runtime=runtime(), modules={"passive": {}})
    with pytest.raises(ConfigValueError, match="no enabled session module learns"):
        s.learn({"x": np.ones(2, np.float32)}, 1)


def test_learn_validates_feeds():
    s = Session(ronn.Model.load(relu_model()).graph, runtime=runtime(), modules={"doubler": {}})
    with pytest.raises(RonnError, match="shape"):
        s.learn({"x": np.ones(3, np.float32)}, 1)


def test_bench_suite_registered_and_run():
    rt = runtime()
    suite = rt.bench_suites["toy"]
    assert suite.plugin == "Plugin"
    assert suite.run(threads=1, runs=1, quick=True) == [{"size": 1, "ratio": 0.5}]


def test_bench_suite_must_be_a_bench_suite():
    class Bad:
        @staticmethod
        @hookimpl
        def ronn_bench_suites(register):
            register("not a suite")
    rt = Runtime(plugins=[Bad], discover=False)
    assert rt.bench_suites == {}
    assert "expected a BenchSuite" in rt.plugins()[0].error


def test_cli_unknown_suite_names_the_installed_ones(capsys):
    assert main(["bench", "--suite", "no-such-suite"]) == 1
    assert "no bench suite named 'no-such-suite'" in capsys.readouterr().err


def test_cli_bench_needs_a_model_or_suite(capsys):
    assert main(["bench"]) == 1
    assert "name at least one model" in capsys.readouterr().err
