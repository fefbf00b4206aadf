"""The Dalian Library metadata repository.

The record model and its formats are at the centre (:mod:`.mods`, :mod:`.crosswalk`,
:mod:`.validation`, :mod:`.xmlio`, :mod:`.schemas`); storage (:mod:`.store`), the save
path (:mod:`.service`), the working copy, import and the web app sit around them.
"""

__version__ = "0.1.0"
