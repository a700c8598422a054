"""Recovery attacks on the questions an unlearned model forgot, one file each.

- :mod:`~unpact_exp.attacks.focus_on_key`: FocusOnKey, the paper's attack;
- :mod:`~unpact_exp.attacks.probab`: PROBAB, its budget-matched sampling baseline;
- :mod:`~unpact_exp.attacks.focus_on_random`, :mod:`~unpact_exp.attacks.focus_on_neutral`,
  :mod:`~unpact_exp.attacks.reask`: the same-budget controls on the same forgotten questions;
- :mod:`~unpact_exp.attacks.focus_on_key_m0_self`: FocusOnKey on M0 where M0 never knew;
- :mod:`~unpact_exp.attacks.paraphrase`, :mod:`~unpact_exp.attacks.icl`,
  :mod:`~unpact_exp.attacks.relearn`: the attacks beyond FocusOnKey (docs/science.md §10);
- :mod:`~unpact_exp.attacks.focus_on_key_control`: FocusOnKey on never-known questions.

Each registers itself with :func:`unpact_exp.attacks.registry.register`; the config lists
which run at every evaluation (``attacks.every_step``) and at the final one
(``attacks.final``). Adding an attack: its file with an ``@register("<name>")`` class, an
import line below, its settings under ``attacks.<name>`` if it has any, and its test
(docs/architecture.md).
"""

# The import order is the registration order: the order of the report's attack columns.
# isort: off
from unpact_exp.attacks import focus_on_key  # noqa: F401  (each import registers one attack)
from unpact_exp.attacks import probab  # noqa: F401
from unpact_exp.attacks import focus_on_random  # noqa: F401
from unpact_exp.attacks import focus_on_neutral  # noqa: F401
from unpact_exp.attacks import reask  # noqa: F401
from unpact_exp.attacks import focus_on_key_m0_self  # noqa: F401
from unpact_exp.attacks import paraphrase  # noqa: F401
from unpact_exp.attacks import icl  # noqa: F401
from unpact_exp.attacks import relearn  # noqa: F401
from unpact_exp.attacks import focus_on_key_control  # noqa: F401
# isort: on
