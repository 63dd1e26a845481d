"""Verdicts on the paper's claims from per-seed results, by a fixed rule.

Each claim is one or more comparisons "a > b" of the fast probe's linear
top-1 (the paper's Table 1 and Table 4 measure linear top-1). A comparison
is reproduced when a's mean exceeds b's by more than `MIN_EFFECT` pooled
seed standard deviations and a one-sided Welch t-test gives p < `ALPHA`;
not reproduced when the same holds with a and b swapped; undecided
otherwise. A claim of several comparisons is reproduced when all of them
are, not reproduced when any of them is not, and undecided otherwise.
"""
import math
import statistics
from typing import Dict, List, Sequence, Tuple

from scipy import stats

MIN_EFFECT = 2.0
ALPHA = 0.05
REPRODUCED, NOT_REPRODUCED, UNDECIDED = ('reproduced', 'not reproduced',
                                         'undecided')

# (claim, [(a, b): a > b in the paper]).
CLAIMS: Tuple[Tuple[str, Tuple[Tuple[str, str], ...]], ...] = (
    ('Table 4: TA < SA < TA+SA < TA+SA+TC',
     (('sa', 'ta'), ('ta_sa', 'sa'), ('cvrl', 'ta_sa'))),
    ('Table 1: CVRL > SimCLR inflated', (('cvrl', 'simclr_inflated'),)),
    ('CVRL > random init', (('cvrl', 'random_init'),)),
    ('Table 1: supervised highest',
     tuple(('supervised', other) for other in (
         'cvrl', 'ta', 'sa', 'ta_sa', 'random_init', 'simclr_inflated'))),
)

RULE = f"""\
The rule was fixed before the grid ran. Every claim is judged on the fast
linear probe's top-1 over the 3 seeds of each setting (kNN R@1 is reported
beside it, not judged). For one comparison "A > B" (the paper's direction):

- **reproduced**: mean(A) - mean(B) exceeds {MIN_EFFECT:g} pooled standard
  deviations, sqrt((sd(A)² + sd(B)²) / 2) with sample standard deviations,
  and a one-sided Welch t-test of A > B gives p < {ALPHA:g};
- **not reproduced**: the same holds for B > A;
- **undecided**: otherwise.

A claim made of several comparisons (Table 4's ordering: SA > TA, TA+SA >
SA, CVRL > TA+SA; supervised highest: supervised > each of the six other
settings) is reproduced if every comparison is, not reproduced if any
comparison is, and undecided otherwise. The effect size of each comparison
is given in pooled standard deviations (positive: the paper's direction).
No setting, seed or budget changes after the results are seen."""


def compare(a: Sequence[float], b: Sequence[float]) -> Dict[str, float]:
  """Effect of "a > b" in pooled sample standard deviations, Welch's p.

  Returns:
    {'difference', 'pooled_std', 'effect_size', 'p_greater', 'p_less',
    'verdict'}; with zero spread in both groups the effect size is
    +/-inf (or 0 for equal means) and p is 0 or 1.
  """
  difference = statistics.fmean(a) - statistics.fmean(b)
  pooled = math.sqrt((statistics.variance(a) + statistics.variance(b)) / 2)
  if pooled > 0:
    effect = difference / pooled
    p_greater = float(stats.ttest_ind(a, b, equal_var=False,
                                      alternative='greater').pvalue)
    p_less = float(stats.ttest_ind(a, b, equal_var=False,
                                   alternative='less').pvalue)
  else:
    effect = math.copysign(math.inf, difference) if difference else 0.0
    p_greater = 0.0 if difference > 0 else 1.0
    p_less = 0.0 if difference < 0 else 1.0
  if effect > MIN_EFFECT and p_greater < ALPHA:
    verdict = REPRODUCED
  elif -effect > MIN_EFFECT and p_less < ALPHA:
    verdict = NOT_REPRODUCED
  else:
    verdict = UNDECIDED
  return {'difference': difference, 'pooled_std': pooled,
          'effect_size': effect, 'p_greater': p_greater, 'p_less': p_less,
          'verdict': verdict}


def combine(verdicts: List[str]) -> str:
  if all(v == REPRODUCED for v in verdicts):
    return REPRODUCED
  if any(v == NOT_REPRODUCED for v in verdicts):
    return NOT_REPRODUCED
  return UNDECIDED


def judge(per_seed_top1: Dict[str, List[float]],
          num_seeds: int) -> List[Dict[str, object]]:
  """The verdict of every claim whose settings have all `num_seeds` seeds.

  Args:
    per_seed_top1: {setting: linear top-1 of each finished seed}.
    num_seeds: seeds every setting must have for a verdict.

  Returns:
    [{'claim', 'verdict' ('pending' if a setting lacks seeds),
    'comparisons': [{'a', 'b', **compare(...)}]}], in `CLAIMS` order.
  """
  judged = []
  for claim, pairs in CLAIMS:
    names = {name for pair in pairs for name in pair}
    if any(len(per_seed_top1.get(n, [])) < max(num_seeds, 2) for n in names):
      judged.append({'claim': claim, 'verdict': 'pending', 'comparisons': []})
      continue
    comparisons = [dict(a=a, b=b, **compare(per_seed_top1[a],
                                            per_seed_top1[b]))
                   for a, b in pairs]
    judged.append({'claim': claim,
                   'verdict': combine([c['verdict'] for c in comparisons]),
                   'comparisons': comparisons})
  return judged
