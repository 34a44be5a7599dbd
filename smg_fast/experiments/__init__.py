"""Many runs and the paper: experiment grids (:mod:`.grid`) run on Ray (:mod:`.sweep`), finished runs as table
entries (:mod:`.results`), the paper's table layouts (:mod:`.tables`) and numbers (:mod:`.paper`), robust
aggregates (:mod:`.aggregates`), the report that puts them together (:mod:`.report`), what one run is
compared with (:mod:`.references`: a random policy and the paper), and learning curves of run directories
(:mod:`.run_curves`) and in the paper's Figure 11 layout (:mod:`.paper_curves`)."""
