"""The traffic family: cars as pymunk boxes driven by a kinematic bicycle on a lane graph
(``roads``), IDM car-following with MOBIL lane changes as background traffic and baseline
(``idm``), and the figures a traffic engineer reports. Each scenario module registers one
scenario (``ring``, ``merge``)."""
