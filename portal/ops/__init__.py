"""Operations as code: Grafana dashboards, Prometheus alert rules and scrape config, the
Alertmanager config made from portal.yaml's `alerts:`, and the Google Chat alert message.

Each is declarative data rendered by `aiportal ops ...`, so what operators deploy is what
the tests check against the real Prometheus, promtool and amtool.
"""
