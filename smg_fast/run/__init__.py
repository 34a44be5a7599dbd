"""One training run, end to end: the loop (:mod:`.trainer`), its checkpoints (:mod:`.checkpoint`), the run
directory and what its files say (:mod:`.directory`), logs (:mod:`.logger`), evaluation across DMC-GB modes
and robot scenes (:mod:`.evaluate`), the pictures of what an SMG agent sees (:mod:`.pictures`), and the
process settings a run needs (:mod:`.allocator`)."""
