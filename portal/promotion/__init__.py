"""Promotion: a commit of a team's GitLab project becomes a versioned prod image.

The tag `vX.Y.Z` is created on the commit (``gitlab``), the tag pipeline builds the image
with Kaniko from images/prod/, the portal follows it in the background (``follower``) and
records who promoted what to which digest (``records``), then proves that the image is what
the team developed (``proof``, reading the registry through ``registry``). ``template``
opens the merge request that sets a project up for this.
"""
