"""The SSH endpoint: `ssh -p PORT USER@HOST` opens a shell in the user's dev container.

- ``keys``: the users' registered public keys (the ``ssh_keys`` table).
- ``target``: the user's running default server (started through the hub when it is not)
  and the container engine command that runs a shell, a command or sftp-server in it.
- ``server``: the asyncssh server run in the portal service's event loop; it authenticates
  with a hub API token of the user as password, or with a registered key.
"""
