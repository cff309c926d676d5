"""The batch-size frontier: the step size tuned for every batch size m, the steps and samples to reach a
target past the saddle, McCandlish et al.'s model S = S_min (1 + B_crit / m) fitted, and its noise-scale
prediction (Shallue et al., JMLR 2019; McCandlish et al. 2018; docs/frontier.md).

Modules: :mod:`~saddle.frontier.search` (the step-size search), :mod:`~saddle.frontier.model` (the
fit and the regimes), :mod:`~saddle.frontier.noise` (the noise scale along the noiseless path),
:mod:`~saddle.frontier.result` (what a frontier run returns).
"""
