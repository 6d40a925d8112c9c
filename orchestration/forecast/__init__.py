"""Cost forecasts: next quarter's spend per cost category and source, with a backtest.

`model` holds the forecasting itself as pure functions over pandas and numpy objects;
`asset` reads the cost history from the marts, runs them and writes `marts.cost_forecasts`.
"""
