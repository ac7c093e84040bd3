"""The first code cell of every chapter notebook, exactly (checked by a test).

In Colab it installs the helper package from the book's repository (the URL
must equal ``repository.url`` in ``_config.yml``); the data sets are then
downloaded by torchvision on first use. Locally it does nothing. The cell is
tagged ``remove-cell`` so that the HTML book does not show it.
"""

SETUP_CELL = '''\
# 环境准备：在 Colab 中安装本书的辅助包 d2lzh_pytorch（本地运行时什么也不做）
import subprocess
import sys

try:
    import google.colab  # noqa: F401  只有 Colab 里才有这个模块
    IN_COLAB = True
except ImportError:
    IN_COLAB = False
if IN_COLAB:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "git+https://github.com/bn-book/batch-norm-book@main"], check=True)'''

SETUP_TAGS = ["remove-cell"]
