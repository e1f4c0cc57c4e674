"""aiportal's Python API: the portal from a notebook or a script, as a developer uses it.

    from aiportal import Portal
    portal = Portal.from_config()            # what `aiportal login` stored, or AIPORTAL_URL/AIPORTAL_TOKEN
    portal.teams()                           # your teams
    portal.data.ls("team-a", "slides/")      # the team's datasets
    job = portal.jobs.submit(team="team-a", version="radiology/segmenter:v1.2.0",
                             command=["python", "/code/run.py"], inputs=["slides/"], outputs="results/")
    job.wait()

See docs/client.md. Every call answers with plain data (dicts, lists) or raises PortalError
with the API's status, message and the field at fault.
"""

from .client import Portal, PortalError, PortalUnreachable
from .jobs import Job, JobTimeout

__all__ = ["Job", "JobTimeout", "Portal", "PortalError", "PortalUnreachable"]
