// ai3::Graph without Python: the buffer planner (liveness reuse, in-place, views,
// the caller's input never written) and a residual graph computed against a loop.
#include "ai3/graph.hpp"
#include "register.hpp"

#include <cmath>
#include <cstdio>
#include <vector>

using namespace ai3;

namespace {

int g_pass = 0, g_fail = 0;

void expect(bool ok, const char *what) {
    if (ok) {
        ++g_pass;
    } else {
        ++g_fail;
        std::printf("FAIL %s\n", what);
    }
}

std::shared_ptr<Layer> relu() { return std::make_shared<ReLULayer>("default"); }
std::shared_ptr<Layer> add() { return std::make_shared<BinaryLayer>(BinaryLayer::add, "default"); }
std::shared_ptr<Layer> sigmoid() { return std::make_shared<PointwiseLayer>(PointwiseLayer::sigmoid, "default"); }

void chain_runs_in_one_buffer() {
    Graph g({relu(), sigmoid(), relu()}, {{0}, {1}, {2}}, 3);
    auto p = g.plan({2, 8}, DType::f32);
    expect(p.slot[0] == -1, "the input lives in the caller's memory");
    expect(p.slot_bytes.size() == 1, "a chain of elementwise layers needs one buffer");
    expect(p.slot[1] == p.slot[2] && p.slot[2] == p.slot[3], "elementwise layers work in place");
}

void residual_keeps_the_skip_alive() {
    // v1 = relu(x); v2 = sigmoid(v1); v3 = v2 + v1; v4 = relu(v3)
    Graph g({relu(), sigmoid(), add(), relu()}, {{0}, {1}, {2, 1}, {3}}, 4);
    auto p = g.plan({3, 5}, DType::f64);
    expect(p.slot[2] != p.slot[1], "the skip value is not overwritten while it is live");
    expect(p.slot[3] == p.slot[2] || p.slot[3] == p.slot[1], "the add overwrites an input that dies at it");
    std::vector<double> x(15);
    for (int i = 0; i < 15; ++i) x[i] = std::sin(i * 1.3) * 3;
    const std::vector<double> x0 = x;
    Tensor out = g.forward(x.data(), {3, 5}, DType::f64, Device{});
    bool ok = out.shape() == Shape{3, 5};
    for (int i = 0; i < 15; ++i) {
        double r = std::max(x0[i], 0.0), want = std::max(1 / (1 + std::exp(-r)) + r, 0.0);
        ok = ok && std::fabs(out.data_as<double>()[i] - want) < 1e-14;
    }
    expect(ok, "residual graph output");
    expect(x == x0, "the caller's input is unchanged");
}

void views_alias_and_dead_values_free() {
    // v1 = relu(x); v2 = reshape(v1) (view); v3 = relu(v2); v4 = sigmoid(x) (reads the input)
    auto view = std::make_shared<ReshapeLayer>(std::vector<ReshapeLayer::Entry>{{0, 0, 0}, {-1, 0, -1}}, 1, "default");
    Graph g({relu(), view, sigmoid(), sigmoid()}, {{0}, {1}, {2}, {0}}, 4);
    auto p = g.plan({2, 3, 4}, DType::f32);
    expect(p.slot[2] == p.slot[1], "a view shares its input's buffer");
    expect(p.shapes[2] == Shape({2, 12}), "view shape follows the batch");
    expect(p.slot_bytes.size() == 1, "a dead buffer is reused");
}

void bad_graphs_raise() {
    bool threw = false;
    try {
        Graph g({relu(), relu()}, {{0}, {2}}, 2);
    } catch (const ValueError &) { threw = true; }
    expect(threw, "a forward reference is rejected");
    threw = false;
    try {
        Graph g({add()}, {{0}}, 1);
    } catch (const ValueError &) { threw = true; }
    expect(threw, "a wrong number of inputs is rejected");
}

} // namespace

int main() {
    register_fallback(registry());
    chain_runs_in_one_buffer();
    residual_keeps_the_skip_alive();
    views_alias_and_dead_values_free();
    bad_graphs_raise();
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
