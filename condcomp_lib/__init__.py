"""condcomp_lib: the small library under the book *Conditional Computation, Reproduced*.

One concept per module: ``data`` (Fashion-MNIST), ``train`` (loops and profiles), ``cost``
(MACs, dense and realized per sample), ``bench`` (timing), ``viz`` (plots), ``models``
(the dense baselines), ``cache`` (trained models and results between chapters); ``ops``
and ``nn`` hold the routed primitives, ``methods`` one file per chapter's method."""

__version__ = "0.1.0"
