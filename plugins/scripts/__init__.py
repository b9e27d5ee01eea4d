"""rcm_scripts: RCM scripts, Solaris' rcmscript(4) protocol on Linux paths.

One handler that adapts executables found in ``$RCM_CONFIG_DIR/scripts`` and
``/usr/lib/rcm/scripts`` (``[plugins.scripts] dirs``): each script is asked
``scriptinfo`` and ``register``, and then ``resourceinfo``, ``queryremove``,
``preremove``, ``postremove`` and ``undoremove`` for the resources it named,
as the coordinator's phases reach them.  docs/plugins/scripts.md is the
protocol reference.

Modules: :mod:`.protocol` (commands, answers, exit codes: pure parsing),
:mod:`.process` (running one script: environment, session, timeout, kill),
:mod:`.catalog` (finding scripts, the ownership rule, each script's state),
:mod:`.plugin` (the hooks: phases mapped to commands).
"""
