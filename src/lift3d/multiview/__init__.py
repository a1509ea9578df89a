"""Photogrammetry: many photos or a video to a textured mesh (``lift3d photos``)."""
