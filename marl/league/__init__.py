"""The self-play league: who plays whom, and how the players are rated."""
