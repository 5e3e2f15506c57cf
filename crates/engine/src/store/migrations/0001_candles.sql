-- Candles, one row per (symbol, interval, open_time); prices as REAL (f64).
CREATE TABLE candles (
    symbol     TEXT    NOT NULL,
    interval   TEXT    NOT NULL,
    open_time  INTEGER NOT NULL,
    open       REAL    NOT NULL,
    high       REAL    NOT NULL,
    low        REAL    NOT NULL,
    close      REAL    NOT NULL,
    volume     REAL    NOT NULL,
    PRIMARY KEY (symbol, interval, open_time)
) WITHOUT ROWID;

-- Half-open ranges [start_ms, end_ms) of open times already settled with a source: every candle
-- that exists there is stored, and any missing one is a real gap. A fetch asks only for the rest.
CREATE TABLE candle_coverage (
    symbol    TEXT    NOT NULL,
    interval  TEXT    NOT NULL,
    start_ms  INTEGER NOT NULL,
    end_ms    INTEGER NOT NULL CHECK (end_ms > start_ms),
    PRIMARY KEY (symbol, interval, start_ms)
) WITHOUT ROWID;
