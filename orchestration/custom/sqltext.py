"""Light checks of a configured SQL query's text, done when vault.yaml loads.

`check_select` refuses anything but one SELECT (or WITH ... SELECT) statement. It reads the text
only as far as it must: comments, quoted strings and identifiers are blanked out first, so a
semicolon or a keyword inside them counts for nothing. It is a first filter with a clear message,
not the guard: the query runs in a read-only transaction (or on a read-only connection), which
is what stops a data-modifying CTE or a writing function.

`bind_names` finds the `:name` parameters the way SQLAlchemy's `text()` does (over the whole
text, quotes included; `::` casts and `\\:` are not parameters).
"""

import re

WINDOW_BINDS = ("window_start", "window_end")
_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_FIRST_WORD = re.compile(r"[A-Za-z]+")
# SELECT ... INTO creates a table (Postgres) or writes a file (MySQL's INTO OUTFILE).
_INTO = re.compile(r"\binto\b", re.IGNORECASE)


def blank_literals(query: str) -> str:
    """`query` with comments, strings and quoted identifiers replaced by spaces."""
    out: list[str] = []
    position = 0
    length = len(query)
    while position < length:
        char = query[position]
        if query.startswith("--", position):
            end = query.find("\n", position)
            end = length if end < 0 else end
        elif query.startswith("/*", position):
            end = query.find("*/", position + 2)
            if end < 0:
                raise ValueError("query has a /* comment that is never closed")
            end += 2
        elif char in "'\"`":
            end = position + 1
            while True:
                end = query.find(char, end)
                if end < 0:
                    raise ValueError(f"query has a {char} quote that is never closed")
                if query.startswith(char * 2, end):  # a doubled quote is part of the text
                    end += 2
                    continue
                end += 1
                break
        elif char == "$" and (tag := _DOLLAR_TAG.match(query, position)):
            close = query.find(tag.group(), tag.end())
            if close < 0:
                raise ValueError(f"query has a {tag.group()} quote that is never closed")
            end = close + len(tag.group())
        else:
            out.append(char)
            position += 1
            continue
        out.append(" " * (end - position))
        position = end
    return "".join(out)


def check_select(query: str) -> None:
    """Refuse, saying why, a query that is not a single SELECT or WITH statement."""
    if not isinstance(query, str) or not query.strip():
        raise ValueError("query is empty")
    text = blank_literals(query).strip()
    if text.endswith(";"):
        text = text[:-1].rstrip()
    if ";" in text:
        raise ValueError("query holds more than one statement; give a single SELECT")
    first = _FIRST_WORD.search(text.lstrip("( \t\r\n"))
    word = first.group().lower() if first else ""
    if word not in ("select", "with"):
        shown = word.upper() or "no statement"
        raise ValueError(f"query starts with {shown}: only a single SELECT or WITH is allowed")
    if _INTO.search(text):
        raise ValueError("query uses INTO (creates a table or writes a file); only read")


def bind_names(query: str) -> set[str]:
    """The `:name` parameters in `query`."""
    return set(_BIND.findall(query))
