"""The warehouse family: robots that fetch shelves and errands in a warehouse (shelves, lifelong, pallets). Each scenario module registers one scenario."""
