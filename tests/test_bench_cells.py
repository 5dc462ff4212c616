"""scripts.bench_cells' FLOP count: the matmuls of a stack, counted by hand."""

from scripts.bench_cells import GATES, matmul_flops


def test_flops_of_two_layers_by_hand():
    b, t, d, sizes = 2, 3, 5, (7, 11)
    for cell, g in GATES.items():
        first = 2 * b * t * (d * g * 7), 2 * b * t * (7 * g * 7)  # projection, recurrence
        second = 2 * b * t * (7 * g * 11), 2 * b * t * (11 * g * 11)
        infer = sum(first) + sum(second)
        # Backward: dh W_h^T and dW_h (2 R), dW_x (P), and the input's gradient above layer 1.
        train = infer + 2 * first[1] + first[0] + 2 * second[1] + 2 * second[0]
        assert matmul_flops(cell, b, t, d, sizes) == (infer, train)
