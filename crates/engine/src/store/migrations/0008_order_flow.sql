-- Order flow (issue 31): Binance's trade count and taker-buy base volume with each candle.
-- NULL where unknown: candles stored before atb kept them, the bundled sample, a CSV without
-- those columns. A fetch fills them in (see `CandleStore::flow_gaps`).
ALTER TABLE candles ADD COLUMN trades INTEGER;
ALTER TABLE candles ADD COLUMN taker_buy_volume REAL;
