"""Capped counts of a restricted user's list, driven from the cheaper side.

A list narrowed by one tag has two id lists to meet: the ids that match
(the tag's links) and the ids the user may see
(``rules.contact_id_streams``). The count stops at the cap, so its
cost is how many ids it reads before it has found the cap plus one, or
runs out. Three ways to do it:

- probe: read the matches in id order and test the rule on each (a few
  index seeks per match); cheap when the matches are few.
- merge: on SQLite, intersect the two id-ordered lists (``UNION`` of the
  user's index ranges, ``INTERSECT`` the matches, both read in id order
  without sorting); cheap when both are large.
- visible: read the user's ids newest first and look each up in the
  matches (one seek each, given ``probe_match``); cheap when the user sees
  few contacts.

Which one runs is chosen from a sample of each side, both read in one
statement: its first cap + 1 ids, which give the side's size (exact when
smaller than that) and its density among the contact ids. Every way counts
the same set.
"""

from dataclasses import dataclass
from functools import cache

from sqlalchemy import column, func, literal_column, select, union
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import TableClause
from sqlalchemy.sql.visitors import InternalTraversal

from crm.contacts.models import Contact
from crm.extensions import db

# Relative cost of one id read, measured at 1M contacts on SQLite: testing
# the rule on a match (up to four index seeks), one step of the merge, one
# visible id with its lookup among the matches.
PROBE_COST = 0.65
MERGE_COST = 0.11
VISIBLE_COST = 1.1


def capped_ids(matches, streams, rule_on, probe_match, cap, way=None):
    """Up to cap + 1 of ``matches`` the user may see (their number is the
    capped count), and whether they are the newest ones, in that order (the
    merge reads them so).

    ``matches`` selects one column of contact ids; ``streams()`` gives the
    user's id lists (``rules.contact_id_streams``), asked for only when a way
    needs them; ``rule_on(column)`` states the user's rule on a column of
    contact ids; ``probe_match(ids)`` states "this id is among the matches"
    on a column. ``way`` is chosen from samples of both sides unless given.

    Fewer than cap + 1 are all of them, in any order; cap + 1 read newest
    first are the start of the list in its default order. Reading the ids
    costs little more than counting them (cap + 1 integers at most).
    """
    match_id = matches.selected_columns[0]
    streams = cache(streams)  # built at most once, when a way needs them
    if way is None:
        way = choose(matches, streams, cap)
    if way == "merge":
        merged = _MergedIds(streams(), matches, cap + 1)
        return db.session.scalars(select(merged.c.id)).all(), True
    if way == "visible":
        visible = newest_first(streams()).subquery()
        counted = select(visible.c.id).where(probe_match(visible.c.id)).limit(cap + 1)
    else:
        counted = matches.where(rule_on(match_id)).limit(cap + 1)
    return db.session.scalars(counted).all(), False


def visible_count(streams, cap) -> int:
    """How many contacts the user may see at all, counted up to ``cap`` + 1.

    The user's id lists merged newest first (``UNION`` of index ranges in id
    order, see ``rules.contact_id_streams``): the count reads about cap + 1
    index entries, where testing the rule on the contacts in id order reads
    every contact the user may not see before it finds the cap.
    """
    counted = newest_first(streams).limit(cap + 1).subquery()
    return db.session.scalar(
        select(func.count(literal_column("*"))).select_from(counted)
    )


def choose(matches, streams, cap) -> str:
    """The way (probe, merge or visible) with the fewest expected reads."""
    if db.engine.dialect.name != "sqlite":
        # PostgreSQL hashes or sorts a whole INTERSECT; its planner drives
        # the probe form well enough.
        return "probe"
    found, seen, top = _samples(matches, streams(), cap)
    if found.count <= cap:
        # At most the cap matches: testing each is never far off the best.
        return "probe"

    match_size, match_density = found.size(top, cap)
    seen_size, seen_density = seen.size(top, cap)
    expected = top * match_density * seen_density
    # The share of each side read before the cap is reached (all of it when
    # fewer visible matches than the cap are expected).
    share = 1.0 if expected <= cap else (cap + 1) / expected

    costs = {
        "probe": PROBE_COST * match_size * share,
        "merge": MERGE_COST * (match_size + seen_size) * share,
        "visible": VISIBLE_COST * seen_size * share,
    }
    return min(costs, key=costs.get)


@dataclass(frozen=True, slots=True)
class _Sample:
    """The first cap + 1 ids of one side: how many, the lowest and highest."""

    count: int
    lowest: int | None
    highest: int | None

    def size(self, top, cap) -> tuple[float, float]:
        """The side's size and its share of the contact ids (its density)."""
        if self.count <= cap:
            return self.count, self.count / top
        density = self.count / max(1, self.highest - self.lowest + 1)
        return density * top, density


def _samples(matches, streams, cap) -> tuple[_Sample, _Sample, int]:
    """Both samples and the highest contact id, in one statement.

    The matches are read in their index's own order (the tag index and the
    full-text index both give ids in order), the user's ids through the
    merged union; each stops after cap + 1.
    """
    sides = _SampledSides(streams, matches, cap + 1)
    row = db.session.execute(
        select(
            *(literal_column(f"{side}.{name}") for side in "mv" for name in _SUMMARY),
            select(func.max(Contact.id)).scalar_subquery(),
        ).select_from(sides)
    ).one()
    return _Sample(*row[0:3]), _Sample(*row[3:6]), row[6] or 1


_SUMMARY = ("n", "lo", "hi")


def newest_first(streams):
    """The user's visible ids, newest first (one merge of the id lists)."""
    return union(*streams).order_by(literal_column("1").desc())


class _MergedIds(TableClause):
    """``(s1 UNION s2 ... INTERSECT matches ORDER BY 1 DESC LIMIT n)``.

    SQLite gives every compound operator the same precedence and reads them
    left to right, and merges id-ordered arms without sorting; it refuses
    the parentheses SQLAlchemy would put around the union. PostgreSQL binds
    INTERSECT tighter, so there the union is put in parentheses.
    """

    # Its SQL is cached by the statements it holds (their structure, with
    # their values as parameters) and the limit written into it.
    inherit_cache = True
    _cache_key_traversal = [
        ("streams", InternalTraversal.dp_clauseelement_list),
        ("matches", InternalTraversal.dp_clauseelement),
        ("limit", InternalTraversal.dp_plain_obj),
    ]

    def __init__(self, streams, matches, limit):
        super().__init__("merged", column("id"))
        self.streams = streams
        self.matches = matches
        self.limit = limit


@compiles(_MergedIds)
def _merged_ids(element, compiler, **kw):
    kw["asfrom"] = True
    union_sql = " UNION ".join(compiler.process(s, **kw) for s in element.streams)
    if compiler.dialect.name != "sqlite":
        union_sql = f"({union_sql})"
    matches_sql = compiler.process(element.matches, **kw)
    return (
        f"({union_sql} INTERSECT {matches_sql} "
        f"ORDER BY 1 DESC LIMIT {int(element.limit)}) AS merged"
    )


class _SampledSides(_MergedIds):
    """``(count, min, max of matches' first n) AS m, (the same of the union) AS v``.

    Written out rather than built from subqueries: SQLAlchemy's column
    collections for the nested subqueries cost more than the statement.
    """

    inherit_cache = True


@compiles(_SampledSides)
def _sampled_sides(element, compiler, **kw):
    kw["asfrom"] = True
    union_sql = " UNION ".join(compiler.process(s, **kw) for s in element.streams)
    matches_sql = compiler.process(element.matches, **kw)
    match_id = element.matches.selected_columns[0].name
    limit = int(element.limit)

    def summary(ids_sql, name, alias):
        return (
            f"(SELECT count(*) AS n, min({name}) AS lo, max({name}) AS hi "
            f"FROM ({ids_sql} LIMIT {limit})) AS {alias}"
        )

    return (
        summary(matches_sql, match_id, "m")
        + " JOIN "
        + summary(f"{union_sql} ORDER BY 1 DESC", "id", "v")
        + " ON 1 = 1"
    )
