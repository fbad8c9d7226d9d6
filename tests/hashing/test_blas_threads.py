"""Hashing keeps BLAS single-threaded: many hashing threads must not each fan out over every core."""

import subprocess
import sys


def test_every_blas_is_limited_after_the_first_hash():
    code = (
        "from hashwatch.hashing.image_hashes import compute_image_hashes\n"
        "from hashwatch.sites.synthetic_images import encode, synthetic_photo\n"
        "compute_image_hashes(encode(synthetic_photo(1, (200, 150))))\n"
        "from threadpoolctl import threadpool_info\n"
        "blas = [i for i in threadpool_info() if i['user_api'] == 'blas']\n"
        "assert blas, 'numpy/scipy load a BLAS'\n"
        "print(sorted({i['num_threads'] for i in blas}))\n"
    )
    env = {"HASHWATCH_BLAS_THREADS": "1", "OPENBLAS_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[1]"
