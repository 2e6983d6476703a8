"""The IndPenSim ODE right-hand side, rewritten for speed (same equations as pensimpy 1.2.5's
``indpensim_ode_py`` with ``inhib_flag`` 2, which is what pensimpy always runs).

pensimpy's version spends most of its time re-binding ~100 constants and building lists on every call
(~230 calls per 12-minute step). Here constants live at module level, derived constants are folded, and the
vacuole-size loop is unrolled into one pass. ``tests/process/test_indpensim.py`` checks that it returns the
same derivatives as the original on states taken from a real batch.
"""

from __future__ import annotations

from math import exp, log, log10, pi, tanh

# kinetic constants
RATIO_MU_E_MU_B = 0.4
P_STD_DEV = 0.0015
MEAN_P = 0.002
MU_V = 1.71e-4
MU_A = 3.5e-3
MU_DIFF = 5.36e-3
BETA_1 = 0.006
K_B = 0.05
K_DIFF_L = 0.09
K_E = 0.009
K_V = 0.05
DELTA_R = 0.75e-4
K_VAC = 3.22e-5
D_VAC = 2.66e-11
RHO_A0 = 0.35
RHO_D = 0.18
R_0 = 1.5e-4
DELTA_0 = 1e-4
# process constants
Y_SX, Y_SP, M_S = 1.85, 0.9, 0.029
C_OIL0, C_S0 = 1000.0, 600.0
Y_O2_X, Y_O2_P, M_O2_X = 650.0, 160.0, 17.5
KLA_A, KLA_B, KLA_C, KLA_D = 0.38, 0.34, -0.38, 0.25
HENRY = 0.0251
N_IMP, PO, R_VESSEL, R_IMP, EPSILON, R_GAS = 3, 5, 2.1, 0.85, 0.1, 8.314
X_CRIT_DO2, P_CRIT_DO2 = 0.1, 0.3
TF = TW = 288.0
TCIN0, TH, TAIR = 285.0, 333.0, 290.0
C_PS, C_PW, DH_EVAP = 5.9, 4.18, 2430.7
U_JACKET, A_C = 36.0, 105.0
EG, ED, K_G, K_D = 14880.0, 173250.0, 450.0, 2.5e29
Y_QX, ABC0 = 25.0, 0.033
GAMMA1, GAMMA2, M_PH = 0.0325e-5, 2.5e-11, 0.0025
K1, K2 = 1e-5, 2.5e-8
N_CONC_OIL, N_CONC_SHOT = 20000.0, 400000.0
Y_NX, Y_NP, M_N, X_CRIT_N = 10.0, 80.0, 0.03, 150.0
Y_PAA_P, Y_PAA_X, M_PAA, X_CRIT_PAA, P_CRIT_PAA = 187.5, 45.0, 1.05, 2400.0, 200.0
B_1, B_2, B_3, B_4, B_5 = -64.29, -1.825, 0.3649, 0.1280, -4.9496e-04
DELTA_C_0, K3, K1_VIS, K2_VIS, T1_VIS, T2_VIS = 0.89, 0.005, 0.001, 0.0001, 1.0, 250.0
Q_CO2, X_CRIT_CO2 = 0.1353, 7570.0
ALPHA_EVP, BETA_T = 5.2400e-4, 2.88
PHO_G, PHO_OIL, PHO_W, PHO_PAA = 1540.0, 900.0, 1000.0, 1000.0
O2_IN0, N2_IN, C_CO2_IN = 0.21, 0.79, 0.033
TV, T0, ALPHA_1 = 373.0, 273.0, 2451.8
# folded
AREA = pi * R_VESSEL**2
PEAK = 2.5 * P_STD_DEV / (P_STD_DEV * 2.5066282746310002)
VAC_VOL = [4.1887902047863905 * (R_0 + j * DELTA_R) ** 3 * DELTA_R for j in range(9)]
R_K, R_M = R_0 + 8 * DELTA_R, R_0 + 10 * DELTA_R
DEGEN = pi * (R_K + R_M) ** 3 / 6 * RHO_D * K_VAC
N0_SOURCE = 1.909859317102744 * (R_0 + DELTA_0) ** -3
PHI0_LOSS = K_VAC * pi * (R_0 + DELTA_0) ** 3 / 6
ADV, DIFF = K_VAC / (2 * DELTA_R), D_VAC / DELTA_R**2
D_IMP5, D_IMP3 = (2 * R_IMP) ** 5, (2 * R_IMP) ** 3


def rhs(t: float, y, par) -> list[float]:
    """dy/dt for the 33 IndPenSim states; ``par`` is pensimpy's parameter + input vector."""
    y = y.tolist() if hasattr(y, "tolist") else y  # Python floats are several times faster than numpy scalars
    mu_p, mux_max, alpha_kla, n_conc_paa, paa_c = par[0], par[1], par[2], par[3], par[4]
    fs, fg, rpm, fc, fh, fb, fa, step1 = par[6], par[7] / 60, par[8], par[9], par[10], par[11], par[12], par[13]
    fw = max(par[14], 0.0)
    pressure = par[15]
    viscosity = y[9] if par[30] == 0 else par[16]
    f_discharge, fpaa, foil, nh3_shots = par[17], par[18], par[19], par[20]
    c_s, c_oil, abc, tcin, o2_in = C_S0, C_OIL0, ABC0, TCIN0, O2_IN0
    if par[21] == 1:
        mu_p += par[22]
        mux_max += par[23]
        c_s += par[24]
        c_oil += par[25]
        abc += par[26]
        paa_c += par[27]
        tcin += par[28]
        o2_in += par[29]

    s, do2, o2, p, vol, temp, h_ion = y[0], y[1], y[2], y[3], y[4], y[7], y[6]
    a_0, a_1, a_3, a_4 = y[11], y[12], y[13], y[14]
    total_x = a_0 + a_1 + a_3 + a_4
    pho_b = 1100 + p + total_x
    a_t1 = y[10] / total_x

    h_b = (vol / 1000) / AREA * (1 - EPSILON)
    pressure_top = 1 + pressure
    pressure_bottom = pressure_top + pho_b * h_b * 9.81e-5
    total_pressure = (pressure_bottom - pressure_top) / log(pressure_bottom / pressure_top)
    do_star = total_pressure * o2_in / HENRY

    ph_inhib = 1 / (1 + h_ion / K1 + K2 / h_ion)
    nh3_inhib = 0.5 * (1 - tanh(X_CRIT_N - y[30]))
    t_inhib = K_G * exp(-EG / (R_GAS * temp)) - K_D * exp(-ED / (R_GAS * temp))
    co2_inhib = 0.5 * (1 + tanh(X_CRIT_CO2 - y[28] * 1000))
    do2_inhib_x = 0.5 * (1 - tanh(X_CRIT_DO2 * do_star - do2))
    do2_inhib_p = 0.5 * (1 - tanh(P_CRIT_DO2 * do_star - do2))
    paa_inhib_x = 0.5 * (1 + tanh(X_CRIT_PAA - y[29]))
    paa_inhib_p = 0.5 * (1 + tanh(-P_CRIT_PAA + y[29]))
    ph = -log10(h_ion)
    mu_h = exp(B_1 + B_2 * ph + B_3 * temp + B_4 * ph * ph + B_5 * temp * temp)

    p_inhib = PEAK * exp(-0.5 * ((s - MEAN_P) / P_STD_DEV) ** 2)
    mu_e = mux_max * ph_inhib * nh3_inhib * t_inhib * do2_inhib_x * co2_inhib * paa_inhib_x
    mu_a0 = RATIO_MU_E_MU_B * mu_e
    k_diff = max(0.75 - a_t1 * BETA_1, K_DIFF_L)

    r_b0 = mu_a0 * a_1 * s / (K_B + s)
    r_e1 = mu_e * a_0 * s / (K_E + s)
    r_d1 = MU_DIFF * a_0 / (k_diff + s)
    r_m0 = M_S * a_0 / (k_diff + s)

    n = y[15:26]  # n0 .. n9, nm
    v_2 = y[26]
    for j in range(9):
        v_2 += VAC_VOL[j] * n[j + 1]
    rho_a1 = a_1 / (a_1 / RHO_A0 + v_2)
    v_a1 = a_1 / (2 * rho_a1) - v_2
    production = mu_p * RHO_A0 * v_a1 * p_inhib * do2_inhib_p * paa_inhib_p
    r_p = production - mu_h * p
    r_m1 = M_S * RHO_A0 * v_a1 * s / (K_V + s)
    r_d4 = MU_A * a_3

    dn = [(MU_V * v_a1) / (K_V + s) * N0_SOURCE - K_VAC * n[0]]
    dn += [-ADV * (n[j + 1] - n[j - 1]) + DIFF * (n[j + 1] - 2 * n[j] + n[j - 1]) for j in range(1, 10)]
    dn_m = K_VAC * dn[9] / (R_M - R_K) - MU_A * n[10]
    dphi_0 = (MU_V * v_a1) / (K_V + s) - PHI0_LOSS * n[0]
    n_k = n[9]

    f_evp = vol * ALPHA_EVP * (exp(2.5 * (temp - T0) / (TV - T0)) - 1)
    pho_feed = c_s / 1000 * PHO_G + (1 - c_s / 1000) * PHO_W
    dilution = fs + fb + fa + fw - f_evp + fpaa
    dil = dilution / vol
    dv = fs + fb + fa + fw + f_discharge / (pho_b / 1000) - f_evp + fpaa
    dwt = fs * pho_feed / 1000 + PHO_OIL / 1000 * foil + fb + fa + fw + f_discharge - f_evp + fpaa * PHO_PAA / 1000

    degen = DEGEN * n_k
    da_0 = r_b0 - r_d1 - a_0 * dil
    da_1 = r_e1 - r_b0 + r_d1 - degen - a_1 * dil
    da_3 = degen - r_d4 - a_3 * dil
    da_4 = r_d4 - a_4 * dil
    dp = r_p - p * dil
    x_1 = da_0 + da_1 + da_3 + da_4
    qrxn = max((x_1 * Y_O2_X + dp * Y_O2_P) * Y_QX * vol / 1000, 0.0)

    n_rps = rpm / 60
    unaerated = N_IMP * PO * pho_b * n_rps**3 * D_IMP5
    p_g = 0.706 * ((unaerated**2 * n_rps * D_IMP3) / fg**0.56) ** 0.45
    variable_power = p_g / 1000

    ds = -r_e1 * Y_SX - r_b0 * Y_SX - r_m0 - r_m1 - Y_SP * production + fs * c_s / vol + foil * c_oil / vol - s * dil
    v_s = fg / AREA
    v_m = vol / 1000
    p_air = (v_s * R_GAS * temp * v_m / (22.4 * h_b)) * log(1 + pho_b * 9.81 * h_b / (pressure_top * 1e5))
    p_t1 = variable_power + p_air
    vis_scaled = (1 if viscosity <= 4 else viscosity) / 100
    kla = alpha_kla * (v_s**KLA_A * (p_t1 / v_m) ** KLA_B * vis_scaled**KLA_C) * (1 - (foil / vol) ** KLA_D)
    our = -x_1 * Y_O2_X - M_O2_X * total_x - dp * Y_O2_P
    otr = kla * (do_star - do2)
    ddo2 = our + otr - do2 * dil

    vg = EPSILON * v_m
    qfg = 85714.28571428572 * fg
    do2_gas = (qfg * o2_in - qfg * (N2_IN / (1 - o2 - y[27] / 100)) * o2 - 0.06 * otr * v_m) / (vg * 1293.3035714285716)

    ph_dis = fs + foil + fb + fa + f_discharge + fw
    growth = r_b0 + r_e1 + r_d4 + r_d1 + M_PH * total_x
    if ph < 7:
        ca, cb = abc, -abc
    else:
        ca, cb = -abc, abc
        h_ion = 1e-14 / h_ion - h_ion
    b = -(h_ion * vol + ca * fa * step1 + cb * fb * step1) / (vol + fb * step1 + fa * step1)
    if ph < 7:
        dh = GAMMA1 * growth + GAMMA1 * r_p + GAMMA2 * ph_dis + ((-b + (b * b + 4e-14) ** 0.5) / 2 - h_ion)
    else:
        dh = -GAMMA1 * growth - GAMMA1 * r_p - GAMMA2 * ph_dis + ((-b - (b * b + 4e-14) ** 0.5) / 2 - h_ion)

    heat_c = (
        ALPHA_1
        / 1000
        * fc ** (BETA_T + 1)
        * (temp - tcin)
        / (fc / 1000 + ALPHA_1 * (fc / 1000) ** BETA_T / 2 * pho_b * C_PS)
    )
    heat_h = (
        ALPHA_1
        / 1000
        * fh ** (BETA_T + 1)
        * (temp - TH)
        / (fh / 1000 + ALPHA_1 * (fh / 1000) ** BETA_T / 2 * pho_b * C_PS)
    )
    dq = (
        fs * pho_feed * C_PS * (TF - temp) / 1000
        + fw * PHO_W * C_PW * (TW - temp) / 1000
        - f_evp * pho_b * C_PW / 1000
        - DH_EVAP * f_evp * PHO_W / 1000
        + qrxn
        + p_t1
        - heat_c
        - heat_h
        - U_JACKET * A_C * (temp - TAIR)
    )
    dtemp = dq / (v_m * C_PW * pho_b)
    dvis = 3 * a_0 ** (1 / 3) / (1 + exp(-K1_VIS * (t - T1_VIS))) / (1 + exp(-K2_VIS * (t - T2_VIS))) - K3 * fw

    dco2_gas = (117857.14285714287 * fg * (C_CO2_IN - y[27]) + (a_0 + a_1) * Q_CO2 * vol) / (vg * 1293.3035714285716)
    henry_co2 = exp(11.25 - 395.9 / (temp - 175.9)) / 4400
    dco2_d = kla * DELTA_C_0 * (total_pressure * y[27] / henry_co2 - y[28]) - y[28] * dil
    dpaa = fpaa * paa_c / vol - Y_PAA_P * dp - Y_PAA_X * x_1 - M_PAA * p - y[29] * dil
    dnh3 = (
        nh3_shots * N_CONC_SHOT / vol
        + (-r_b0 - r_e1 - r_d1 - r_d4) * Y_NX
        - dp * Y_NP
        - M_N * total_x
        + n_conc_paa * fpaa / vol
        + N_CONC_OIL * foil / vol
        - y[30] * dil
    )
    return [
        ds, ddo2, do2_gas, dp, dv, dwt, dh, dtemp, dq, dvis, total_x,
        da_0, da_1, da_3, da_4, *dn, dn_m, dphi_0,
        dco2_gas, dco2_d, dpaa, dnh3, mu_p, mu_e,
    ]  # fmt: skip
