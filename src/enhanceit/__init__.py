"""EnhanceIt: denoise and upscale images with waifu2x-family networks, fast on CPU, in bounded memory."""

__version__ = "0.1.0"
